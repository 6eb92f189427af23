"""BatchWorker starts a poll's jobs with one script call and checks what arq's own start
checks: a job in progress elsewhere, or deferred, is left alone; no more than max_jobs run. Jobs
ending together are finished with arq's own commands in one transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import Retry
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import Job
from arq.worker import func

from scaisend_core.queue.worker import BatchWorker

QUEUE = "test:starts"


def _worker(
    redis: ArqRedis, ran: list[str], max_jobs: int, *, takes: float = 0.01, poll: float = 0.01
) -> BatchWorker:
    async def record(ctx: dict[str, Any], name: str) -> None:
        await asyncio.sleep(takes)
        ran.append(name)

    return BatchWorker(
        functions=[func(record, name="record")], queue_name=QUEUE, redis_pool=redis,
        handle_signals=False, max_jobs=max_jobs, keep_result=0, poll_delay=poll, burst=True,
    )  # fmt: skip


async def _enqueue(redis: ArqRedis, count: int) -> list[str]:
    """`count` jobs job0, job1, ... on the test queue, each with its own name as argument."""
    names = [f"job{i}" for i in range(count)]
    for name in names:
        await redis.enqueue_job("record", name, _job_id=name, _queue_name=QUEUE)
    return names


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
    names = await _enqueue(redis, 5)
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=2, takes=0.2, poll=0.01)

    # no slot frees within the poll delay: back to the poll loop, the rest still queued
    await worker.start_jobs([name.encode() for name in names])

    assert worker.job_counter == 2
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == names[:2]
    assert await redis.zcard(QUEUE) == 3


async def test_slots_freed_during_a_poll_are_filled_without_waiting_for_the_next(
    redis: ArqRedis,
) -> None:
    names = await _enqueue(redis, 5)
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=2, takes=0.005, poll=1.0)

    await worker.start_jobs([name.encode() for name in names])
    await asyncio.gather(*worker.tasks.values())

    assert sorted(ran) == names
    assert await redis.zcard(QUEUE) == 0


async def test_a_stopping_worker_starts_nothing_more(redis: ArqRedis) -> None:
    names = await _enqueue(redis, 4)
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=1, takes=0.01, poll=1.0)
    worker.allow_pick_jobs = True

    starting = asyncio.create_task(worker.start_jobs([name.encode() for name in names]))
    await asyncio.sleep(0.001)
    worker.allow_pick_jobs = False  # serve() on SIGTERM
    await starting
    await asyncio.gather(*worker.tasks.values())

    assert ran == ["job0"]
    assert await redis.zcard(QUEUE) == 3


async def test_a_burst_run_drains_the_queue(redis: ArqRedis) -> None:
    names = await _enqueue(redis, 30)
    ran: list[str] = []

    await _worker(redis, ran, max_jobs=8).main()

    assert sorted(ran) == sorted(names)
    # finished as arq finishes a job: in-progress, retry and job keys gone, off the queue
    assert await redis.keys("arq:in-progress:*") == []
    assert await redis.keys("arq:retry:*") == []
    assert await redis.keys("arq:job:*") == []
    assert await redis.zcard(QUEUE) == 0


async def test_jobs_ending_together_are_finished_in_one_transaction(redis: ArqRedis) -> None:
    names = await _enqueue(redis, 6)
    ran: list[str] = []
    worker = _worker(redis, ran, max_jobs=10)
    transactions = 0
    real_pipeline = worker.pool.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return real_pipeline(*args, **kwargs)

    worker.pool.pipeline = counted  # type: ignore[method-assign]
    await worker.start_jobs([name.encode() for name in names])
    await asyncio.gather(*worker.tasks.values())
    worker.pool.pipeline = real_pipeline  # type: ignore[method-assign]

    assert sorted(ran) == names
    # one pipeline per job to read it (arq's run_job), one for all six finishes
    assert transactions == len(names) + 1
    assert await redis.keys("arq:in-progress:*") == []


async def test_results_are_kept_and_a_retry_is_put_back_as_arq_does(redis: ArqRedis) -> None:
    async def work(ctx: dict[str, Any], n: int) -> str:
        if n == 1 and ctx["job_try"] == 1:
            raise Retry(defer=60)
        return "done"

    for n in range(3):
        await redis.enqueue_job("work", n, _job_id=f"j{n}", _queue_name=QUEUE)
    before = await redis.zscore(QUEUE, "j1")
    worker = BatchWorker(
        functions=[func(work, name="work")], queue_name=QUEUE, redis_pool=redis,
        handle_signals=False, max_jobs=10, keep_result=60, poll_delay=0.01,
    )  # fmt: skip

    await worker.start_jobs([b"j0", b"j1", b"j2"])
    await asyncio.gather(*worker.tasks.values())

    assert await Job("j0", redis, _queue_name=QUEUE).result(timeout=1) == "done"
    assert await Job("j2", redis, _queue_name=QUEUE).result(timeout=1) == "done"
    later = await redis.zscore(QUEUE, "j1")
    assert before is not None
    assert later is not None
    assert later - before >= 60_000
    assert not await redis.exists(in_progress_key_prefix + "j1")
    assert await redis.exists(job_key_prefix + "j1")  # still queued, to run again
