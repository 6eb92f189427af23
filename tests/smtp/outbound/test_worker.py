"""BatchWorker: arq's Worker with one script call to start the jobs a poll finds and one
transaction to finish the jobs that end together, leaving the same keys and results as arq."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus
from arq.worker import func

from scaisend_smtp.outbound.batch import Batcher
from scaisend_smtp.outbound.worker import BatchWorker, Finish

QUEUE = "test:batch-worker"


def worker(redis: ArqRedis, work: Any, **options: Any) -> BatchWorker:
    settings: dict[str, Any] = dict(
        queue_name=QUEUE, redis_pool=redis, handle_signals=False, poll_delay=0.01,
        keep_result=60, max_jobs=10,
    )  # fmt: skip
    settings.update(options)
    return BatchWorker(functions=[func(work, name="work")], **settings)


async def enqueue(redis: ArqRedis, n: int, **options: Any) -> None:
    assert await redis.enqueue_job("work", n, _job_id=f"j{n}", _queue_name=QUEUE, **options)


async def test_a_burst_runs_every_job_once_and_leaves_what_arq_leaves(redis: ArqRedis) -> None:
    calls: list[int] = []

    async def work(ctx: dict[str, Any], n: int) -> int:
        calls.append(n)
        return n * 2

    for n in range(5):
        await enqueue(redis, n)

    await worker(redis, work, burst=True).main()

    assert sorted(calls) == [0, 1, 2, 3, 4]
    for n in range(5):
        job = Job(f"j{n}", redis, _queue_name=QUEUE)
        assert await job.result(timeout=1) == n * 2  # the result is kept, as arq keeps it
        for prefix in (in_progress_key_prefix, retry_key_prefix, job_key_prefix):
            assert not await redis.exists(prefix + f"j{n}")
    assert await redis.zcard(QUEUE) == 0


async def test_jobs_running_elsewhere_or_not_yet_due_are_left_alone(redis: ArqRedis) -> None:
    calls: list[int] = []

    async def work(ctx: dict[str, Any], n: int) -> None:
        calls.append(n)

    await enqueue(redis, 0)
    await enqueue(redis, 1)
    await redis.set(in_progress_key_prefix + "j1", b"1", px=60_000)  # another replica runs it
    await enqueue(redis, 2, _defer_by=60)
    batch = worker(redis, work)

    await batch.start_jobs([b"j0", b"j1", b"j2"])
    await asyncio.gather(*batch.tasks.values())

    assert calls == [0]
    assert await redis.zscore(QUEUE, "j1") is not None
    assert await redis.zscore(QUEUE, "j2") is not None
    assert await Job("j2", redis, _queue_name=QUEUE).status() == JobStatus.deferred


async def test_a_poll_starts_no_more_jobs_than_there_are_free_slots(redis: ArqRedis) -> None:
    release = asyncio.Event()

    async def work(ctx: dict[str, Any], n: int) -> None:
        await release.wait()

    for n in range(3):
        await enqueue(redis, n)
    batch = worker(redis, work, max_jobs=2)

    await batch.start_jobs([b"j0", b"j1", b"j2"])

    assert sorted(batch.tasks) == ["j0", "j1"]
    assert batch.job_counter == 2
    assert not await redis.exists(in_progress_key_prefix + "j2")
    await batch.start_jobs([b"j2"])  # no free slot: nothing starts, nothing waits
    assert sorted(batch.tasks) == ["j0", "j1"]
    release.set()
    await asyncio.gather(*batch.tasks.values())
    assert batch.job_counter == 0


async def test_jobs_ending_together_share_one_transaction_and_a_retry_is_put_back(
    redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    finish_all = BatchWorker._finish_all

    async def spy(self: BatchWorker, finishes: list[Finish]) -> list[None]:
        batches.append([f.job_id for f in finishes])
        return await finish_all(self, finishes)

    monkeypatch.setattr(BatchWorker, "_finish_all", spy)

    async def work(ctx: dict[str, Any], n: int) -> str:
        if n == 1 and ctx["job_try"] == 1:
            raise Retry(defer=60)
        return "done"

    for n in range(3):
        await enqueue(redis, n)
    before = await redis.zscore(QUEUE, "j1")
    batch = worker(redis, work)

    await batch.start_jobs([b"j0", b"j1", b"j2"])
    await asyncio.gather(*batch.tasks.values())

    assert [sorted(b) for b in batches] == [["j0", "j1", "j2"]]
    assert await Job("j0", redis, _queue_name=QUEUE).result(timeout=1) == "done"
    assert await Job("j2", redis, _queue_name=QUEUE).result(timeout=1) == "done"
    later = await redis.zscore(QUEUE, "j1")
    assert before is not None
    assert later is not None
    assert later - before >= 60_000
    assert not await redis.exists(in_progress_key_prefix + "j1")
    assert await redis.exists(job_key_prefix + "j1")  # still queued, to run again


async def test_a_batch_that_must_not_repeat_fails_every_caller_once() -> None:
    runs: list[list[int]] = []

    async def run(items: list[int]) -> list[None]:
        runs.append(items)
        raise ConnectionError("redis went away")

    batcher: Batcher[int, None] = Batcher("once", run, linger=0, singly=False)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)

    assert runs == [[0, 1, 2]]
    assert all(isinstance(r, ConnectionError) for r in results)
