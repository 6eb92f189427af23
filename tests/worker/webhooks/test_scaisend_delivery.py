"""ScaiSend endpoints over real HTTP on loopback: one Standard-Webhooks-signed envelope per POST,
the retry schedule with time injected, auto-disable, OAuth2 bearer tokens, redirects, per-endpoint
concurrency and event filtering."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from standardwebhooks.webhooks import Webhook

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import DeliveryStatus, Tenant
from scaisend_core.queue.contracts import WEBHOOK_DELIVER
from scaisend_worker.webhooks.jobs import (
    WEBHOOK_FUNCTIONS,
    deliver_webhook,
    wake_due_webhooks,
)
from scaisend_worker.webhooks.runtime import WebhookRuntime
from tests.fixtures.http_receiver import Receiver, Reply
from tests.worker.webhooks.support import (
    FakeClock,
    add_endpoint,
    deliveries,
    emit,
    endpoint_row,
    settled,
    webhook_runtime,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def runtime(core_settings: CoreSettings, sessions: SessionFactory, clock: FakeClock):  # type: ignore[no-untyped-def]
    async with webhook_runtime(core_settings, sessions, clock, timeout=1.0) as rt:
        yield rt


async def deliver_due(runtime: WebhookRuntime) -> None:
    """One reconciler tick, then wait for every request it started."""
    await wake_due_webhooks({"webhooks": runtime})
    await runtime.lanes.idle()


async def test_envelope_is_signed_so_the_standardwebhooks_package_verifies_it(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/hook", Reply(204))
    endpoint = await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    [event] = await emit(
        sessions, tenant.id, EventType.DELIVERED, details={"smtp_response": "250 2.0.0 OK"}
    )
    [delivery] = await deliveries(sessions)

    await deliver_webhook({"webhooks": runtime}, delivery.id)
    await runtime.lanes.idle()

    [request] = http_receiver.on("/hook")
    assert endpoint.signing_secret is not None
    payload = Webhook(endpoint.signing_secret).verify(request.body, dict(request.headers))
    assert payload == {
        "event_id": event.id,
        "event_type": "delivered",
        "timestamp": int(event.occurred_at.timestamp()),
        "message_id": None,
        "recipient_email": "rcpt@example.test",
        "tenant_id": tenant.id,
        "metadata": {"smtp_response": "250 2.0.0 OK"},
    }
    assert request.headers["webhook-id"] == event.id
    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 204)
    assert row.attempt_log[0]["status_code"] == 204


async def test_a_job_enqueued_after_commit_is_run_by_an_arq_worker(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    redis: ArqRedis,
) -> None:
    """Events recorded together wake their endpoint with one job: its lane claims them all."""
    http_receiver.respond("/hook", Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    events = await emit(sessions, tenant.id, EventType.PROCESSED, EventType.DELIVERED, redis=redis)
    assert await redis.zcard(WEBHOOK_DELIVER) == 1

    worker = Worker(
        functions=WEBHOOK_FUNCTIONS,
        queue_name=WEBHOOK_DELIVER,
        redis_pool=redis,
        ctx={"webhooks": runtime},
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
    )
    await worker.async_run()
    await runtime.lanes.idle()

    assert worker.jobs_complete == 1
    received = sorted(r.headers["webhook-id"] for r in http_receiver.on("/hook"))
    assert received == sorted(e.id for e in events)


async def test_failed_attempts_retry_after_60s_5min_15min_1h_2h_then_fail(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", Reply(500, b"boom"))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, EventType.DELIVERED)
    await deliver_due(runtime)

    for attempt, delay in enumerate((60, 300, 900, 3600, 7200), start=1):
        [row] = await deliveries(sessions)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", attempt, 500)
        assert row.next_attempt_at is not None
        assert (row.next_attempt_at - clock()).total_seconds() == pytest.approx(delay, abs=1)
        clock.advance(delay - 2)
        await deliver_due(runtime)
        assert len(http_receiver.on("/hook")) == attempt  # not yet due
        clock.advance(2)
        await deliver_due(runtime)
        assert len(http_receiver.on("/hook")) == attempt + 1

    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 6, None)
    assert [e["status_code"] for e in row.attempt_log] == [500] * 6
    assert row.attempt_log[-1]["response"] == "boom"
    clock.advance(86400)
    await deliver_due(runtime)
    assert len(http_receiver.on("/hook")) == 6


async def test_a_receiver_that_does_not_answer_in_time_is_a_failure_then_retried(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", Reply(hang=True), Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, EventType.DELIVERED)

    await deliver_due(runtime)  # the runtime's deadline is 1 s in these tests
    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == "timed out after 1 s"
    clock.advance(60)
    await deliver_due(runtime)

    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 2, 200)


async def test_ten_consecutive_failures_disable_the_endpoint_but_keep_it_enabled(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/hook", Reply(503))
    endpoint = await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, *[EventType.DELIVERED] * 9)
    await deliver_due(runtime)
    assert (await endpoint_row(sessions, endpoint.row.id)).disabled_at is None

    await emit(sessions, tenant.id, EventType.DELIVERED)
    await deliver_due(runtime)

    row = await endpoint_row(sessions, endpoint.row.id)
    assert (row.failure_count, row.enabled) == (10, True)
    assert row.disabled_at is not None
    await emit(sessions, tenant.id, EventType.BOUNCE)  # no delivery for a disabled endpoint
    assert len(await deliveries(sessions)) == 10


async def test_a_success_resets_the_consecutive_failure_count(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", Reply(500), Reply(500), Reply(200))
    endpoint = await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, EventType.DELIVERED)
    await deliver_due(runtime)
    clock.advance(60)
    await deliver_due(runtime)
    assert (await endpoint_row(sessions, endpoint.row.id)).failure_count == 2

    clock.advance(300)
    await deliver_due(runtime)

    row = await endpoint_row(sessions, endpoint.row.id)
    assert (row.failure_count, row.disabled_at) == (0, None)
    assert row.last_success_at is not None
    assert row.last_failure_at is not None


async def test_redirects_are_not_followed(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/hook", Reply(307, headers={"Location": "/elsewhere"}))
    http_receiver.respond("/elsewhere", Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, EventType.DELIVERED)

    await deliver_due(runtime)

    assert http_receiver.on("/elsewhere") == []
    [row] = await deliveries(sessions)
    assert (row.status, row.last_status_code) == ("pending", 307)


async def test_each_endpoint_gets_only_its_subscribed_events(
    runtime: WebhookRuntime, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/some", Reply(200))
    http_receiver.respond("/all", Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/some"), events=["bounce", "open"])
    await add_endpoint(sessions, tenant.id, http_receiver.url("/all"), events=["*"])

    await emit(sessions, tenant.id, EventType.PROCESSED, EventType.BOUNCE, EventType.OPEN)
    await deliver_due(runtime)

    some = sorted(r.json()["event_type"] for r in http_receiver.on("/some"))  # type: ignore[index]
    every = sorted(r.json()["event_type"] for r in http_receiver.on("/all"))  # type: ignore[index]
    assert some == ["bounce", "open"]
    assert every == ["bounce", "open", "processed"]


async def test_oauth_endpoints_get_a_bearer_token_fetched_once_until_it_expires(
    runtime: WebhookRuntime,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", Reply(200))
    http_receiver.token_endpoint("/token", token="tok-abc", expires_in=120)
    creds = (http_receiver.url("/token"), "client-1", "s3cret")
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"), oauth=creds)

    await emit(sessions, tenant.id, EventType.PROCESSED, EventType.DELIVERED, EventType.OPEN)
    await deliver_due(runtime)
    clock.advance(121)
    await emit(sessions, tenant.id, EventType.CLICK)
    await deliver_due(runtime)

    hooks = http_receiver.on("/hook")
    assert [r.headers["Authorization"] for r in hooks] == ["Bearer tok-abc"] * 4
    tokens = http_receiver.on("/token")
    assert len(tokens) == 2  # once, then again after expiry
    form = dict(pair.split("=") for pair in tokens[0].body.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "s3cret",
    }


async def test_a_dead_endpoint_holds_only_its_own_concurrency_cap(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/dead", Reply(hang=True))
    http_receiver.respond("/alive", Reply(200))
    dead = await add_endpoint(sessions, tenant.id, http_receiver.url("/dead"))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/alive"))
    async with webhook_runtime(
        core_settings, sessions, clock, timeout=30.0, endpoint_concurrency=3
    ) as runtime:
        await emit(sessions, tenant.id, *[EventType.DELIVERED] * 8)
        await wake_due_webhooks({"webhooks": runtime})

        await http_receiver.wait_for(8, "/alive")
        await http_receiver.wait_for(3, "/dead")
        assert http_receiver.in_flight == 3
        assert len(http_receiver.on("/dead")) == 3
        await settled(sessions, ["pending"] * 8 + ["succeeded"] * 8)
        assert runtime.lanes.in_flight(dead.row.id) == 3
