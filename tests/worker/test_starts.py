"""GroupStartWorker starts a poll's jobs with one script call and checks what arq's own start
checks: a job in progress elsewhere, or deferred, is left alone; no more than max_jobs run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import func

from scaisend_worker.starts import GroupStartWorker

QUEUE = "test:starts"


def _worker(redis: ArqRedis, ran: list[str], max_jobs: int) -> GroupStartWorker:
    async def record(ctx: dict[str, Any], name: str) -> None:
        await asyncio.sleep(0.01)
        ran.append(name)

    return GroupStartWorker(
        functions=[func(record, name="record")], queue_name=QUEUE, redis_pool=redis,
        handle_signals=False, max_jobs=max_jobs, keep_result=0, poll_delay=0.01, burst=True,
    )  # fmt: skip


async def test_due_free_jobs_start_and_taken_or_deferred_ones_do_not(redis: ArqRedis) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    for name in ("due", "taken", "deferred"):
        defer = later if name == "deferred" else None
        await redis.enqueue_job("record", name, _job_id=name, _queue_name=QUEUE, _defer_until=defer)
    await redis.set(in_progress_key_prefix + "taken", b"1")
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=10)

    await worker.start_jobs([b"due", b"taken", b"deferred"])
    await asyncio.gather(*worker.tasks.values())

    assert ran == ["due"]
    assert set(worker.tasks) == {"due"}
    assert worker.job_counter == 0
    assert await redis.zscore(QUEUE, "taken") is not None  # still queued, for its owner
    assert await redis.zscore(QUEUE, "deferred") is not None


async def test_no_more_than_max_jobs_start_and_the_rest_wait_for_the_next_poll(
    redis: ArqRedis,
) -> None:
    names = [f"job{i}" for i in range(5)]
    for name in names:
        await redis.enqueue_job("record", name, _job_id=name, _queue_name=QUEUE)
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=2)

    await worker.start_jobs([name.encode() for name in names])  # as arq's: stops when full

    assert worker.job_counter == 2
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == names[:2]
    assert await redis.zcard(QUEUE) == 3


async def test_a_burst_run_drains_the_queue(redis: ArqRedis) -> None:
    names = [f"job{i}" for i in range(30)]
    for name in names:
        await redis.enqueue_job("record", name, _job_id=name, _queue_name=QUEUE)
    ran: list[str] = []

    await _worker(redis, ran, max_jobs=8).main()

    assert sorted(ran) == sorted(names)
