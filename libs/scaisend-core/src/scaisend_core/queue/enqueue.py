"""Enqueue with deterministic ids, and a buffer that only flushes after the commit succeeded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms

from scaisend_core.queue.contracts import Job

# arq's enqueue_job, for many jobs in one round trip: a job whose id is queued, running or has a
# result is skipped (KEYS per job: job key, result key, queue; ARGV: payload, expiry ms, score, id).
_ENQUEUE_MANY = """
local added = 0
for i = 0, #ARGV / 4 - 1 do
  local job_key, result_key, queue = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  if redis.call('EXISTS', job_key, result_key) == 0 then
    redis.call('PSETEX', job_key, ARGV[i * 4 + 2], ARGV[i * 4 + 1])
    redis.call('ZADD', queue, ARGV[i * 4 + 3], ARGV[i * 4 + 4])
    added = added + 1
  end
end
return added
"""


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
        await enqueue_many(pool, jobs)


async def enqueue_many(pool: ArqRedis, jobs: Sequence[Job | tuple[Job, datetime | None]]) -> int:
    """Push many jobs in one round trip with `enqueue`'s semantics (existing ids are skipped);
    returns how many were added. A 1000-personalization send is one EVAL, not 3000 commands."""
    if not jobs:
        return 0
    now_ms = timestamp_ms()
    keys: list[str] = []
    args: list[str | bytes | int] = []
    for item in jobs:
        job, defer_until = item if isinstance(item, tuple) else (item, None)
        score = to_unix_ms(defer_until) if defer_until is not None else now_ms
        payload = serialize_job(
            job.job_name, (), job.model_dump(), None, now_ms, serializer=pool.job_serializer
        )
        job_id = job.job_id()
        keys += [job_key_prefix + job_id, result_key_prefix + job_id, job.queue_name]
        args += [payload, score - now_ms + pool.expires_extra_ms, score, job_id]
    added = await pool.eval(_ENQUEUE_MANY, len(keys), *keys, *args)  # type: ignore[arg-type,misc]
    return int(added)
