"""Writing what attempts did: the delivery rows and the endpoint's consecutive-failure count
(which disables the endpoint at 10), group-committed per lane, retried on lock conflicts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import transaction
from scaisend_core.metrics import WEBHOOK_DELIVERIES
from scaisend_core.repositories import webhook_deliveries as repo
from scaisend_core.repositories.webhook_deliveries import AttemptRecord
from scaisend_worker.webhooks.outcome import DISABLE_AFTER

if TYPE_CHECKING:
    from scaisend_worker.webhooks.lanes import Lane
    from scaisend_worker.webhooks.runtime import WebhookRuntime

log = logging.getLogger(__name__)
T = TypeVar("T")
CONFLICT_RETRIES = 5


async def in_transaction(
    runtime: WebhookRuntime, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run `work` in one transaction, again when the database picked it as a deadlock victim
    (claims and outcomes of one endpoint run concurrently across worker processes)."""
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            async with transaction(runtime.sessions) as session:
                return await work(session)
        except Exception as exc:
            if not repo.is_lock_conflict(exc) or attempt == CONFLICT_RETRIES:
                raise
            log.info("webhook transaction hit a lock conflict; running it again (%s)", attempt)
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


# A pending delivery after an attempt is one that will be tried again.
_OUTCOME_LABELS = {"pending": "retrying"}


async def record_outcome(
    runtime: WebhookRuntime,
    lane: Lane,
    records: Sequence[AttemptRecord],
    ok: bool | None,
    *,
    kind: str,
) -> None:
    """Persist an attempt's records; `ok` is the request's result, None when no request was
    made (nothing to count). Returns once they are committed. `kind` (scaisend or sendgrid)
    labels the per-delivery outcome counter that the webhook alerts read."""
    await lane.outcomes.write(list(records), ok)
    for record in records:
        WEBHOOK_DELIVERIES.labels(kind, _OUTCOME_LABELS.get(record.status, record.status)).inc()


@dataclass(slots=True)
class _Pending:
    records: list[AttemptRecord]
    ok: bool | None
    done: asyncio.Future[None]


class OutcomeWriter:
    """Group commit of one lane's outcomes: what arrives while a write is in progress goes in
    the next one, so under load one transaction carries many attempts and the endpoint row is
    written once per group instead of once per request; when idle, a write starts at once."""

    def __init__(self, runtime: WebhookRuntime, lane: Lane) -> None:
        self._runtime = runtime
        self._lane = lane
        self._queue: list[_Pending] = []
        self._writing = False

    async def write(self, records: list[AttemptRecord], ok: bool | None) -> None:
        pending = _Pending(records, ok, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if not self._writing:
            self._writing = True
            try:
                while self._queue:
                    group, self._queue = self._queue, []
                    await self._commit(group)
            finally:
                self._writing = False
                for left in self._queue:  # the writer was cancelled: nobody will write these
                    left.done.cancel()
        await pending.done

    async def _commit(self, group: list[_Pending]) -> None:
        try:
            await in_transaction(self._runtime, self._writer(group))
        except BaseException as exc:
            for pending in group:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for pending in group:
                pending.done.set_result(None)

    def _writer(self, group: list[_Pending]) -> Callable[[AsyncSession], Awaitable[None]]:
        now = self._runtime.clock()
        results = [p.ok for p in group if p.ok is not None]
        records = [r for p in group for r in p.records]
        endpoint = _endpoint_change(self._lane, results, now)

        # The endpoint row first: updating a delivery takes a shared lock on its endpoint
        # (InnoDB's foreign key check); two transactions upgrading that would deadlock.
        async def write(session: AsyncSession) -> None:
            await repo.begin_read_committed(session)
            if endpoint is not None:
                await endpoint(session)
            await repo.record_attempts(session, records)

        return write


def _endpoint_change(
    lane: Lane, results: list[bool], now: datetime
) -> Callable[[AsyncSession], Awaitable[None]] | None:
    """What a group of request results does to the endpoint's consecutive-failure count: a
    success resets it to the failures that came after the last success; failures alone add."""
    if not results:
        return None
    endpoint_id = lane.endpoint_id
    if True not in results:
        lane.health.failed()
        return lambda s: repo.endpoint_failed(s, endpoint_id, now, DISABLE_AFTER, len(results))
    trailing = results[::-1].index(True) if results[-1] is False else 0
    if trailing:
        lane.health.failed()
    elif not lane.health.should_write_success(now):
        return None
    return lambda s: repo.endpoint_succeeded(s, endpoint_id, now, trailing, DISABLE_AFTER)


async def release(runtime: WebhookRuntime, delivery_ids: Sequence[str]) -> None:
    """Hand claimed rows back unattempted (they did not fit in this batch): due again now."""
    if not delivery_ids:
        return
    now = runtime.clock()

    async def write(session: AsyncSession) -> None:
        await repo.release(session, list(delivery_ids), now)

    await in_transaction(runtime, write)
