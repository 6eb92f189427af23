"""Enqueue with deterministic ids, and a buffer that only flushes after the commit succeeded."""

from __future__ import annotations

from datetime import datetime

from arq.connections import ArqRedis

from scaisend_core.queue.contracts import Job


async def enqueue(pool: ArqRedis, job: Job, *, defer_until: datetime | None = None) -> bool:
    """Push one job; returns False when a job with the same id is already queued or running."""
    result = await pool.enqueue_job(
        job.job_name,
        **job.model_dump(),
        _job_id=job.job_id(),
        _queue_name=job.queue_name,
        _defer_until=defer_until,
    )
    return result is not None


class JobBuffer:
    """Jobs produced inside a transaction. Flush after commit; drop on rollback, so a worker
    never picks up a job whose rows do not exist."""

    def __init__(self) -> None:
        self._jobs: list[tuple[Job, datetime | None]] = []

    def add(self, job: Job, *, defer_until: datetime | None = None) -> None:
        self._jobs.append((job, defer_until))

    def clear(self) -> None:
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)

    async def flush(self, pool: ArqRedis) -> None:
        jobs, self._jobs = self._jobs, []
        for job, defer_until in jobs:
            await enqueue(pool, job, defer_until=defer_until)
