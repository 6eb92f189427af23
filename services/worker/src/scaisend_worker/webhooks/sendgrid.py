"""The SendGrid Event Webhook: due events of a tenant batched into JSON arrays (what accumulated
since the last claim, about a second, up to 1,000 events or 768 KB), signed with the tenant's
ECDSA P-256 key when signing is on. A batch succeeds or fails as a whole."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import SendGridContext
from scaisend_core.ids import new_id
from scaisend_core.repositories import webhook_deliveries as repo
from scaisend_core.repositories.webhook_deliveries import AttemptRecord, Claim, ClaimedDelivery
from scaisend_core.webhook_payloads import (
    JSON,
    SENDGRID_USER_AGENT,
    sendgrid_body,
    sendgrid_event_for,
)
from scaisend_core.webhook_signing import sendgrid_headers
from scaisend_worker.webhooks.lanes import Release
from scaisend_worker.webhooks.outcome import after_attempt, undeliverable
from scaisend_worker.webhooks.recording import in_transaction, record_outcome, release
from scaisend_worker.webhooks.targets import Target, target_for

if TYPE_CHECKING:
    from scaisend_worker.webhooks.lanes import Lane
    from scaisend_worker.webhooks.runtime import WebhookRuntime

# A body's bytes beyond its events: the brackets, separators and trailing CRLF.
_FRAMING = 4


async def start_batches(runtime: WebhookRuntime, lane: Lane, free: int) -> bool:
    """Claim up to `free` batches; True when the last one was full (more events are due)."""
    options = runtime.options
    for _ in range(free):
        now = runtime.clock()
        batch_id = new_id("whb")
        claim = await in_transaction(runtime, _claimer(runtime, lane, now, batch_id))
        if claim is None or not claim.deliveries:
            return False
        lane.health.observe(claim.endpoint)
        target = target_for(runtime.secrets, claim.endpoint)
        ids = [d.id for d in claim.deliveries]
        lane.start(ids, partial(post_batch, runtime, lane, target, claim, batch_id))
        if len(claim.deliveries) < options.batch_max_events:
            return False
    return True


def _claimer(
    runtime: WebhookRuntime, lane: Lane, now: datetime, batch_id: str
) -> Callable[[AsyncSession], Awaitable[Claim | None]]:
    async def take(session: AsyncSession) -> Claim | None:
        return await repo.claim(
            session,
            lane.endpoint_id,
            now=now,
            lease_until=now + runtime.options.lease,
            limit=runtime.options.batch_max_events,
            claim_id=batch_id,
            with_contexts=True,
        )

    return take


async def post_batch(
    runtime: WebhookRuntime,
    lane: Lane,
    target: Target,
    claim: Claim,
    batch_id: str,
    release_slot: Release,
) -> None:
    events, orphans = _render(claim)
    batch, left_over = _fit(events, runtime.options.batch_max_bytes)
    await release(runtime, [d.id for d, _ in left_over])
    records: list[AttemptRecord] = [
        undeliverable(d, "the event no longer exists", runtime.clock()) for d in orphans
    ]
    ok: bool | None = None
    if batch:
        body = sendgrid_body(payload for _, payload in batch)
        result = await runtime.sender.post(target.url, body, _headers(runtime, target, body))
        release_slot()
        now = runtime.clock()
        records += [after_attempt(d, result, now, batch_id) for d, _ in batch]
        ok = result.ok
    await record_outcome(runtime, lane, records, ok, kind="sendgrid")


def _render(claim: Claim) -> tuple[list[tuple[ClaimedDelivery, bytes]], list[ClaimedDelivery]]:
    """(delivery, SendGrid event) oldest first, and deliveries whose event row is gone."""
    events, orphans = [], []
    for delivery in claim.deliveries:
        event = claim.events.get(delivery.event_id)
        if event is None:
            orphans.append(delivery)
            continue
        ctx = claim.contexts.get(event.message_id or "", SendGridContext())
        events.append((delivery, sendgrid_event_for(event, ctx)))
    return events, orphans


def _fit(
    events: list[tuple[ClaimedDelivery, bytes]], max_bytes: int
) -> tuple[list[tuple[ClaimedDelivery, bytes]], list[tuple[ClaimedDelivery, bytes]]]:
    """The leading events whose array stays within max_bytes (at least one), and the rest."""
    size = _FRAMING
    for index, (_, payload) in enumerate(events):
        size += len(payload) + 3
        if size > max_bytes and index > 0:
            return events[:index], events[index:]
    return events, []


def _headers(runtime: WebhookRuntime, target: Target, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": JSON, "User-Agent": SENDGRID_USER_AGENT}
    if target.private_key is not None:
        timestamp = int(runtime.clock().timestamp())
        headers |= sendgrid_headers(target.private_key, timestamp, body)
    return headers
