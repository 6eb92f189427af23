"""arq's Worker with its Redis traffic per job batched: the jobs one poll finds are started with
one script call, and the jobs that finish together are finished in one MULTI/EXEC.

arq starts a job with a WATCH / EXISTS / ZSCORE / MULTI-PSETEX-EXEC round trip sequence of its
own, one job after another, and finishes each in a transaction of its own. Those six round trips
per job cost more CPU than signing the message, and starting jobs one by one left the claim
batches (claims.py) two jobs deep. Same keys, same checks, same values: a job is started only if
it is not in progress and its score is due, exactly arq's test, done atomically in Redis instead
of with WATCH; finishing runs arq's own commands per job, several jobs in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.utils import timestamp_ms, to_ms
from arq.worker import Worker
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from scaisend_smtp.outbound.batch import Batcher

FINISH_LINGER = 0.002  # jobs finishing in the same few loop turns share a transaction
FINISH_BATCH = 256

# KEYS: the queue, then each candidate's in-progress key; ARGV: now (ms), the in-progress
# expiry (ms), how many to start at most, then the candidates' ids. Returns id, score pairs.
_START = """
local now, expiry, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local started = {}
for i = 2, #KEYS do
  if #started >= 2 * limit then break end
  local id = ARGV[i + 2]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) > 0 and tonumber(score) <= now then
      redis.call('PSETEX', KEYS[i], expiry, '1')
      started[#started + 1] = id
      started[#started + 1] = score
    end
  end
end
return started
"""


@dataclass(frozen=True, slots=True)
class Finish:
    """finish_job's arguments for one job."""

    job_id: str
    finish: bool
    result_data: bytes | None
    result_timeout_s: float | None
    keep_result_forever: bool
    incr_score: int | None
    keep_in_progress: float | None


class BatchWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._finishes: Batcher[Finish, None] = Batcher(
            "arq-finish", self._finish_all, max_batch=FINISH_BATCH, linger=FINISH_LINGER,
            singly=False,  # ZINCRBY twice would defer a retried job twice as long
        )  # fmt: skip
        self._start: AsyncScript | None = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start as many of `job_ids` as there are free slots, in one round trip."""
        free = self.max_jobs - self.job_counter
        if not job_ids or free <= 0:
            return
        ids = [job_id.decode() for job_id in job_ids]
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in ids)]
        expiry = int(self.in_progress_timeout_s * 1000)
        if self._start is None:
            self._start = self.pool.register_script(_START)
        started = await self._start(keys=keys, args=[timestamp_ms(), expiry, free, *ids])
        for n in range(0, len(started), 2):
            job_id, score = started[n].decode(), int(float(started[n + 1]))
            await self.sem.acquire()  # never waits: it has a slot more than max_jobs
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        await self._finishes.submit(
            Finish(job_id, finish, result_data, result_timeout_s, keep_result_forever,
                   incr_score, keep_in_progress)
        )  # fmt: skip

    async def _finish_all(self, finishes: list[Finish]) -> list[None]:
        async with self.pool.pipeline(transaction=True) as tr:
            for finish in finishes:
                _queue_finish(tr, self.queue_name, finish)
            await tr.execute()
        return [None] * len(finishes)


def _queue_finish(tr: Pipeline, queue_name: str, f: Finish) -> None:
    """arq's Worker.finish_job commands for one job, unchanged."""
    delete_keys = []
    in_progress_key = in_progress_key_prefix + f.job_id
    if f.keep_in_progress is None:
        delete_keys += [in_progress_key]
    else:
        tr.pexpire(in_progress_key, to_ms(f.keep_in_progress))
    if f.finish:
        if f.result_data:
            expire = None if f.keep_result_forever else f.result_timeout_s
            tr.set(result_key_prefix + f.job_id, f.result_data, px=to_ms(expire))
        delete_keys += [retry_key_prefix + f.job_id, job_key_prefix + f.job_id]
        tr.zrem(abort_jobs_ss, f.job_id)
        tr.zrem(queue_name, f.job_id)
    elif f.incr_score:
        tr.zincrby(queue_name, f.incr_score, f.job_id)
    if delete_keys:
        tr.delete(*delete_keys)
