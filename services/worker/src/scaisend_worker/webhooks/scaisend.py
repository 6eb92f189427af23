"""ScaiSend endpoints: one event envelope per POST, signed the Standard Webhooks way
(`webhook-id` = event id, so a retry carries the same id and receivers can deduplicate)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.ids import new_id
from scaisend_core.repositories import webhook_deliveries as repo
from scaisend_core.repositories.webhook_deliveries import Claim, ClaimedDelivery, ClaimedEvent
from scaisend_core.webhook_payloads import JSON, SCAISEND_USER_AGENT, envelope_for, scaisend_body
from scaisend_core.webhook_signing import standard_headers
from scaisend_worker.webhooks.lanes import Release
from scaisend_worker.webhooks.outcome import after_attempt, undeliverable
from scaisend_worker.webhooks.recording import in_transaction, record_outcome
from scaisend_worker.webhooks.targets import Target, target_for

if TYPE_CHECKING:
    from scaisend_worker.webhooks.lanes import Lane
    from scaisend_worker.webhooks.runtime import WebhookRuntime


async def start_deliveries(runtime: WebhookRuntime, lane: Lane, free: int) -> bool:
    """Claim up to `free` due deliveries of the lane's endpoint and start (or queue) one
    request each. The lease covers the wait behind every unit already in the lane."""
    now = runtime.clock()
    claim_id = new_id("whb")
    ahead, cap = lane.ahead, lane.cap

    def lease_until(found: int) -> datetime:
        return now + runtime.options.queued_lease(ahead + found - 1, cap)

    async def take(session: AsyncSession) -> Claim | None:
        return await repo.claim(
            session,
            lane.endpoint_id,
            now=now,
            lease_until=lease_until,
            limit=free,
            claim_id=claim_id,
        )

    claim = await in_transaction(runtime, take)
    if claim is None or not claim.deliveries:
        return False
    lane.health.observe(claim.endpoint)
    target = target_for(runtime.secrets, claim.endpoint)
    for delivery in claim.deliveries:
        event = claim.events.get(delivery.event_id)
        lane.start([delivery.id], partial(deliver, runtime, lane, target, delivery, event))
    return len(claim.deliveries) == free


async def deliver(
    runtime: WebhookRuntime,
    lane: Lane,
    target: Target,
    delivery: ClaimedDelivery,
    event: ClaimedEvent | None,
    release: Release,
) -> None:
    if event is None:
        release()
        record = undeliverable(delivery, "the event no longer exists", runtime.clock())
        await record_outcome(runtime, lane, [record], None, kind="scaisend")
        return
    body = scaisend_body(envelope_for(event))
    headers = {"Content-Type": JSON, "User-Agent": SCAISEND_USER_AGENT}
    if target.signing_secret:
        timestamp = int(runtime.clock().timestamp())
        headers |= standard_headers(target.signing_secret, event.id, timestamp, body)
    result = await runtime.sender.post(target.url, body, headers, target.oauth)
    release()
    record = after_attempt(delivery, result, runtime.clock())
    await record_outcome(runtime, lane, [record], result.ok, kind="scaisend")
