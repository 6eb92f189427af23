"""Writing attempt outcomes, group-committed: attempts that finish together share one
transaction (one commit, one webhook-endpoint lookup, one insert of all their events)."""

from __future__ import annotations

import logging
from datetime import datetime

from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.queue import JobBuffer
from scaisend_smtp.outbound.batch import Batcher
from scaisend_smtp.outbound.outcomes import Entry, write_many

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, sessions: SessionFactory, redis: ArqRedis) -> None:
        self._sessions = sessions
        self._redis = redis
        self._batcher: Batcher[Entry, datetime | None] = Batcher("recorder", self._write)

    async def write(self, entry: Entry) -> datetime | None:
        """Returns when the message's next attempt is due (None: it is done), once committed."""
        return await self._batcher.submit(entry)

    async def close(self) -> None:
        await self._batcher.close()

    async def _write(self, entries: list[Entry]) -> list[datetime | None]:
        jobs = JobBuffer()
        async with self._sessions() as session:
            results = await write_many(session, entries, jobs)
            await session.commit()
        try:
            await jobs.flush(self._redis)
        except Exception:  # committed is committed: never write these outcomes twice
            log.exception("enqueueing webhook deliveries failed; their rows stay pending")
        return results
