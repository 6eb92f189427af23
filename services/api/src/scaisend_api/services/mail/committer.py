"""Group commit for accepted mail: the rows of every send waiting while the previous commits
ran are written as one multi-row INSERT per table and one COMMIT, then their jobs go to Redis in
one EVAL. Each send still gets its 202 only after the commit holding its rows; under load the
round trips to MySQL and Redis (which dominate a send) are shared instead of paid per request.

A few groups are written at once, each on its own connection: one group's BEGIN … COMMIT takes
several milliseconds on a busy machine (the fsync, MySQL's own CPU), and with a single writer
that latency, not CPU, capped the sends per second."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from scaisend_api.services.mail.rows import Rows
from scaisend_core.db import Reads
from scaisend_core.queue import enqueue_many
from scaisend_core.repositories.mail import insert_accepted_rows

log = logging.getLogger(__name__)
MAX_ROWS_PER_GROUP = 5000  # messages + recipients: keeps one group's INSERTs to a sane size
GROUPS_IN_FLIGHT = 3


@dataclass(slots=True)
class _Pending:
    rows: Rows
    redis: ArqRedis
    done: asyncio.Future[None]

    @property
    def size(self) -> int:
        return len(self.rows.messages) + len(self.rows.recipients)


@dataclass
class GroupCommitter:
    """One per process (the lifespan owns it). `submit()` returns once the rows are committed
    and their jobs enqueued, or raises what the commit raised."""

    reads: Reads
    max_rows: int = MAX_ROWS_PER_GROUP
    writers: int = GROUPS_IN_FLIGHT
    _pending: list[_Pending] = field(default_factory=list)
    _flushers: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, rows: Rows, redis: ArqRedis) -> None:
        pending = _Pending(rows, redis, asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        if len(self._flushers) < self.writers:  # else a busy writer takes it when it is done
            flusher = asyncio.create_task(self._run(), name="mail-group-commit")
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        # shield: a client that hangs up must not cancel a commit other sends share
        await asyncio.shield(pending.done)

    async def close(self) -> None:
        """Let the groups in flight finish (lifespan shutdown)."""
        await asyncio.gather(*self._flushers, return_exceptions=True)

    async def _run(self) -> None:
        while self._pending:
            group = self._take_group()
            await self._commit_group(group)

    def _take_group(self) -> list[_Pending]:
        group: list[_Pending] = []
        size = 0
        while self._pending and (not group or size + self._pending[0].size <= self.max_rows):
            item = self._pending.pop(0)
            group.append(item)
            size += item.size
        return group

    async def _commit_group(self, group: list[_Pending]) -> None:
        try:
            await self._write(group)
        except Exception as exc:
            if len(group) == 1:
                _settle(group, exc)
                return
            # One send's rows may be what failed: give each its own transaction and answer.
            for item in group:
                await self._commit_group([item])
            return
        await self._enqueue(group)
        _settle(group, None)

    async def _write(self, group: list[_Pending]) -> None:
        await insert_accepted_rows(
            self.reads,
            [m for item in group for m in item.rows.messages],
            [r for item in group for r in item.rows.recipients],
            [a for item in group for a in item.rows.attachments],
        )

    async def _enqueue(self, group: list[_Pending]) -> None:
        """Committed means accepted: if Redis fails now, the worker's reconciler finds the
        queued rows and enqueues them, so the sends still get their 202."""
        jobs = [job for item in group for job in item.rows.jobs]
        try:
            await enqueue_many(group[0].redis, jobs)
        except (RedisError, OSError):
            log.warning("accepted mail committed but not enqueued; the reconciler will enqueue it",
                        exc_info=True)  # fmt: skip


def _settle(group: list[_Pending], error: BaseException | None) -> None:
    for item in group:
        if item.done.done():
            continue
        if error is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(error)
