"""arq's Worker, starting the jobs of a poll together and finishing the jobs that end together
in one transaction. The worker's email:process queue and the SMTP service's smtp:deliver queue
both run on it.

Starting: one script call marks every job it may start as in progress, where arq spends four
round trips per job (WATCH, EXISTS, ZSCORE, then MULTI/PSETEX/EXEC). The script checks what
arq's transaction checks, atomically: the job is not in progress, still queued, and due.
Starting many jobs at once is also what lets the process_message jobs of a poll meet in one
group (the worker's process/groups.py) and deliver jobs fill one claim batch (the SMTP
service's outbound/claims.py): started one by one, each job reached its batch alone.

Finishing: a group's jobs all end in the same turn of the loop; arq's own finish commands for
each of them go in one MULTI/EXEC instead of a transaction per job."""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger(__name__)

# KEYS: the queue, then one in-progress key per job; ARGV: now (ms), in-progress expiry (ms),
# then the job ids. Returns job id, score pairs for the jobs it marked in progress.
_START_MANY = """
local started = {}
local now, expiry = tonumber(ARGV[1]), ARGV[2]
for i = 2, #KEYS do
  local job_id = ARGV[i + 1]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], job_id)
    if score and tonumber(score) > 0 and tonumber(score) <= now then
      redis.call('PSETEX', KEYS[i], expiry, '1')
      started[#started + 1] = job_id
      started[#started + 1] = score
    end
  end
end
return started
"""


@dataclass(frozen=True, slots=True)
class _Finish:
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
        self._finishing: list[tuple[_Finish, asyncio.Future[None]]] = []
        self._finisher: asyncio.Task[None] | None = None
        self._slot_freed = asyncio.Event()

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._slot_freed.set()

    async def _wait_for_slot(self) -> bool:
        """True once a slot is free. arq returns from a poll when every slot is taken and the
        freed slots wait for the next poll, up to WORKER_POLL_DELAY later; a group's jobs all
        free their slots at once, so that pause came after every group. False when no slot
        frees within the poll delay (the poll loop then runs its heartbeat and polls again)
        or the worker is stopping."""
        while self.job_counter >= self.max_jobs:
            self._slot_freed.clear()
            try:
                await asyncio.wait_for(self._slot_freed.wait(), self.poll_delay_s)
            except TimeoutError:
                return False
        return self.allow_pick_jobs

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start `job_ids` as slots free up, as many at a time as are free, until every id was
        started or found taken (or no slot frees within the poll delay)."""
        waiting = [job_id.decode() for job_id in job_ids]
        while waiting and await self._wait_for_slot():
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            slots = 1
            free = min(len(waiting), self.max_jobs - self.job_counter)
            while slots < free and not self.sem.locked():
                await self.sem.acquire()  # a free semaphore is taken without yielding
                slots += 1
            self.job_counter += slots
            batch, waiting = waiting[:slots], waiting[slots:]
            try:
                started = await self._mark_in_progress(batch)
            except BaseException:
                self._give_back(slots)
                raise
            self._give_back(slots - len(started))
            for job_id, score in started:
                task = self.loop.create_task(self.run_job(job_id, score))
                task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                self.tasks[job_id] = task

    async def _mark_in_progress(self, job_ids: list[str]) -> list[tuple[str, int]]:
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in job_ids)]
        expiry = int(self.in_progress_timeout_s * 1000)
        reply = await self.pool.eval(  # type: ignore[misc]
            _START_MANY, len(keys), *keys, str(timestamp_ms()), str(expiry), *job_ids
        )
        pairs = [
            (_text(reply[i]), int(float(_text(reply[i + 1])))) for i in range(0, len(reply), 2)
        ]
        if len(pairs) < len(job_ids):
            log.debug("%d of %d jobs already started elsewhere", len(job_ids) - len(pairs),
                      len(job_ids))  # fmt: skip
        return pairs

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
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append((_Finish(job_id, finish, result_data, result_timeout_s,
                                        keep_result_forever, incr_score, keep_in_progress), done))  # fmt: skip
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_all(), name="arq-finish")
        await asyncio.shield(done)

    async def _finish_all(self) -> None:
        await asyncio.sleep(0)  # the other jobs of the group reach finish_job in this turn
        while self._finishing:
            batch, self._finishing = self._finishing, []
            try:
                async with self.pool.pipeline(transaction=True) as tr:
                    for finish, _ in batch:
                        _queue_finish(tr, self.queue_name, finish)
                    await tr.execute()
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _give_back(self, slots: int) -> None:
        for _ in range(slots):
            self.job_counter -= 1
            self.sem.release()


def _queue_finish(tr: Pipeline, queue_name: str, f: _Finish) -> None:
    """arq's Worker.finish_job commands for one job, unchanged."""
    delete_keys = []
    in_progress_key = in_progress_key_prefix + f.job_id
    if f.keep_in_progress is None:
        delete_keys.append(in_progress_key)
    else:
        tr.pexpire(in_progress_key, to_ms(f.keep_in_progress))  # type: ignore[arg-type]
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
