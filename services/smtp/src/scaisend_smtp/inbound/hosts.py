"""The return-path hosts we accept bounces on, cached in memory so RCPT never waits on MySQL.

A background task reloads the set every REFRESH_SECONDS; a failed reload keeps the last good set.
Until the first load succeeds, hosts other than INBOUND_DOMAIN get a temporary 451, so a DSN is
retried rather than refused while the database is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum

from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.models import SenderDomain

REFRESH_SECONDS = 60.0
log = logging.getLogger(__name__)


class HostVerdict(Enum):
    OURS = "ours"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"  # not loaded yet


class ReturnPathHosts:
    def __init__(self, sessions: SessionFactory, inbound_host: str) -> None:
        self._sessions = sessions
        self.inbound_host = inbound_host.lower().rstrip(".")
        self._hosts: frozenset[str] | None = None

    def verdict(self, host: str) -> HostVerdict:
        host = host.lower().rstrip(".")
        if host == self.inbound_host:
            return HostVerdict.OURS
        if self._hosts is None:
            return HostVerdict.UNKNOWN
        return HostVerdict.OURS if host in self._hosts else HostVerdict.FOREIGN

    async def refresh(self) -> None:
        """Every sender domain's return-path host, whatever the domain's state: a domain that
        lost verification still gets DSNs for what it sent before."""
        async with self._sessions() as session:
            rows = await session.exec(select(col(SenderDomain.return_path_host)).distinct())
            self._hosts = frozenset(h.lower().rstrip(".") for h in rows.all() if h)

    async def keep_fresh(self, stop: asyncio.Event, every: float = REFRESH_SECONDS) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # the listener must outlive a database outage
                log.warning(
                    "could not reload return-path hosts; keeping the last set", exc_info=True
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
