"""The SendGrid Event Webhook over real HTTP: SendGrid-shaped events in JSON arrays, signed so
the official `sendgrid` package's EventWebhook verifier accepts them, batched by count and size,
retried as a whole."""

from __future__ import annotations

from typing import Any

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import EndpointKind, Tenant
from scaisend_worker.webhooks.jobs import wake_due_webhooks
from scaisend_worker.webhooks.runtime import WebhookRuntime
from tests.fixtures.http_receiver import Receiver, Reply
from tests.worker.webhooks.support import (
    FakeClock,
    add_endpoint,
    add_message,
    deliveries,
    emit,
    webhook_runtime,
)

ALL_SETTINGS = [
    "processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
    "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
]  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def runtime(core_settings: CoreSettings, sessions: SessionFactory, clock: FakeClock):  # type: ignore[no-untyped-def]
    async with webhook_runtime(core_settings, sessions, clock, timeout=1.0) as rt:
        yield rt


async def tick(runtime: WebhookRuntime) -> None:
    await wake_due_webhooks({"webhooks": runtime})
    await runtime.lanes.idle()


def events_in(receiver: Receiver, path: str = "/events") -> list[list[dict[str, Any]]]:
    return [r.json() for r in receiver.on(path)]  # type: ignore[misc]


async def test_events_arrive_as_one_array_signed_for_sendgrids_own_verifier(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(200))
    endpoint = await add_endpoint(
        sessions,
        tenant.id,
        http_receiver.url("/events"),
        kind=EndpointKind.SENDGRID,
        events=ALL_SETTINGS,
        signed=True,
    )
    message = await add_message(
        sessions,
        tenant.id,
        categories=["welcome", "onboarding"],
        custom_args={"userid": "1123", "event": "must not win"},
        asm_group_id=42,
    )
    await emit(sessions, tenant.id, EventType.PROCESSED, message_id=message.id)
    await emit(
        sessions,
        tenant.id,
        EventType.DELIVERED,
        message_id=message.id,
        details={"smtp_response": "250 2.0.0 OK", "tls": True, "ip": "192.0.2.1"},
    )

    await tick(runtime)

    [request] = http_receiver.on("/events")
    verifier = EventWebhook()
    key = verifier.convert_public_key_to_ecdsa(endpoint.public_key)
    assert verifier.verify_signature(
        request.body.decode(),
        request.headers[EventWebhookHeader.SIGNATURE],
        request.headers[EventWebhookHeader.TIMESTAMP],
        key,
    )
    assert request.headers["User-Agent"] == "SendGrid Event API"
    processed, delivered = request.json()  # type: ignore[misc]
    assert processed["event"] == "processed"
    assert processed["email"] == "rcpt@example.test"
    assert processed["sg_message_id"] == message.id
    assert processed["smtp-id"] == message.message_id_header
    assert processed["category"] == ["welcome", "onboarding"]
    assert processed["asm_group_id"] == 42
    assert processed["userid"] == "1123"  # custom args at the top level
    assert delivered["event"] == "delivered"  # reserved keys win over custom args
    assert (delivered["response"], delivered["tls"], delivered["ip"]) == (
        "250 2.0.0 OK",
        1,
        "192.0.2.1",
    )
    assert {r.status for r in await deliveries(sessions)} == {"succeeded"}


async def test_a_tampered_body_fails_sendgrids_verifier(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(200))
    endpoint = await add_endpoint(
        sessions, tenant.id, http_receiver.url("/events"), kind=EndpointKind.SENDGRID,
        events=ALL_SETTINGS, signed=True,
    )  # fmt: skip
    await emit(sessions, tenant.id, EventType.OPEN)
    await tick(runtime)

    [request] = http_receiver.on("/events")
    tampered = request.body.decode().replace('"open"', '"click"')
    assert not EventWebhook(endpoint.public_key).verify_signature(
        tampered,
        request.headers[EventWebhookHeader.SIGNATURE],
        request.headers[EventWebhookHeader.TIMESTAMP],
    )


async def test_spam_reports_and_blocks_use_sendgrids_names(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(200))
    await add_endpoint(
        sessions, tenant.id, http_receiver.url("/events"), kind=EndpointKind.SENDGRID,
        events=["bounce", "spam_report"],
    )  # fmt: skip
    await emit(sessions, tenant.id, EventType.SPAM_REPORT)
    await emit(
        sessions, tenant.id, EventType.BLOCKED,
        details={"reason": "550 5.7.1 blocked", "status": "5.7.1"},
    )  # fmt: skip
    await emit(sessions, tenant.id, EventType.DELIVERED)  # not subscribed

    await tick(runtime)

    [batch] = events_in(http_receiver)
    assert [e["event"] for e in batch] == ["spamreport", "bounce"]
    assert (batch[1]["type"], batch[1]["reason"], batch[1]["status"]) == (
        "blocked", "550 5.7.1 blocked", "5.7.1",
    )  # fmt: skip
    assert "X-Twilio-Email-Event-Webhook-Signature" not in http_receiver.on("/events")[0].headers


async def test_batches_are_capped_by_event_count(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/events", Reply(200))
    await add_endpoint(
        sessions, tenant.id, http_receiver.url("/events"), kind=EndpointKind.SENDGRID,
        events=ALL_SETTINGS,
    )  # fmt: skip
    await emit(sessions, tenant.id, *[EventType.OPEN] * 7)

    async with webhook_runtime(core_settings, sessions, clock, batch_max_events=3) as runtime:
        await tick(runtime)

    assert sorted(len(batch) for batch in events_in(http_receiver)) == [1, 3, 3]
    assert {r.status for r in await deliveries(sessions)} == {"succeeded"}


async def test_batches_are_capped_by_size_and_the_rest_goes_next(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/events", Reply(200))
    await add_endpoint(
        sessions, tenant.id, http_receiver.url("/events"), kind=EndpointKind.SENDGRID,
        events=ALL_SETTINGS,
    )  # fmt: skip
    await emit(
        sessions, tenant.id, *[EventType.CLICK] * 5, details={"url": "https://x.test/" + "a" * 400}
    )

    async with webhook_runtime(core_settings, sessions, clock, batch_max_bytes=1500) as runtime:
        await tick(runtime)
        await tick(runtime)
        await tick(runtime)

    bodies = http_receiver.on("/events")
    assert all(len(r.body) <= 1500 for r in bodies)
    assert sum(len(batch) for batch in events_in(http_receiver)) == 5
    assert {r.status for r in await deliveries(sessions)} == {"succeeded"}


async def test_a_failed_batch_is_retried_whole_on_the_schedule(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/events", Reply(500), Reply(200))
    await add_endpoint(
        sessions, tenant.id, http_receiver.url("/events"), kind=EndpointKind.SENDGRID,
        events=ALL_SETTINGS,
    )  # fmt: skip
    await emit(sessions, tenant.id, EventType.PROCESSED, EventType.DELIVERED)
    await tick(runtime)
    rows = await deliveries(sessions)
    assert {(r.status, r.attempts, r.last_status_code) for r in rows} == {("pending", 1, 500)}
    assert len({r.batch_id for r in rows}) == 1

    clock.advance(59)
    await tick(runtime)
    assert len(http_receiver.on("/events")) == 1
    clock.advance(1)
    await tick(runtime)

    first, second = events_in(http_receiver)
    assert [e["sg_event_id"] for e in first] == [e["sg_event_id"] for e in second]
    rows = await deliveries(sessions)
    assert {(r.status, r.attempts) for r in rows} == {("succeeded", 2)}
