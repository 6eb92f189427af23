"""Writing what attempts did: the delivery rows and the endpoint's consecutive-failure count
(which disables the endpoint at 10), in one transaction per attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import transaction
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


async def record_outcome(
    runtime: WebhookRuntime, lane: Lane, records: Sequence[AttemptRecord], ok: bool | None
) -> None:
    """`ok` is the request's result; None when no request was made (nothing to count)."""
    now = runtime.clock()
    success_write = ok is True and lane.health.should_write_success(now)
    if ok is False:
        lane.health.failed()

    # The endpoint row first: updating a delivery takes a shared lock on its endpoint (InnoDB's
    # foreign key check), and two transactions upgrading that to exclusive would deadlock.
    async def write(session: AsyncSession) -> None:
        await repo.begin_read_committed(session)
        if success_write:
            await repo.endpoint_succeeded(session, lane.endpoint_id, now)
        elif ok is False:
            await repo.endpoint_failed(session, lane.endpoint_id, now, DISABLE_AFTER)
        await repo.record_attempts(session, list(records))

    await in_transaction(runtime, write)


async def release(runtime: WebhookRuntime, delivery_ids: Sequence[str]) -> None:
    """Hand claimed rows back unattempted (they did not fit in this batch): due again now."""
    if not delivery_ids:
        return
    now = runtime.clock()

    async def write(session: AsyncSession) -> None:
        await repo.release(session, list(delivery_ids), now)

    await in_transaction(runtime, write)
