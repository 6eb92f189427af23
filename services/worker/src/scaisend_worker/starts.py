"""arq's Worker, starting the jobs of a poll together: one script call marks every job it may
start as in progress, where arq spends four round trips per job (WATCH, EXISTS, ZSCORE, then
MULTI/PSETEX/EXEC). The script checks what arq's transaction checks, atomically: the job is not
in progress, still queued, and due. Starting many jobs at once is also what lets the
process_message jobs of a poll meet in one group (process/groups.py): started one by one, each
job reached the group alone."""

from __future__ import annotations

import logging

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

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
    if score and tonumber(score) <= now then
      redis.call('PSETEX', KEYS[i], expiry, '1')
      started[#started + 1] = job_id
      started[#started + 1] = score
    end
  end
end
return started
"""


class GroupStartWorker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start as many of `job_ids` as there are free slots, waiting for a slot when none is
        free (as arq does), until every id was started or found taken."""
        waiting = [job_id.decode() for job_id in job_ids]
        while waiting:
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

    def _give_back(self, slots: int) -> None:
        for _ in range(slots):
            self.job_counter -= 1
            self.sem.release()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
