"""Webhooks across the API, Redis and the worker, with a real receiver on loopback: a rotated
secret stops verifying at once, a re-enabled endpoint gets what waited, the deliveries log and a
manual redeliver, and Event Webhook settings made through the API reaching the receiver signed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import Tenant
from scaisend_core.queue.contracts import WEBHOOK_DELIVER
from scaisend_worker.webhooks.jobs import WEBHOOK_FUNCTIONS, wake_due_webhooks
from scaisend_worker.webhooks.runtime import WebhookRuntime
from tests.api.webhooks_helpers import WEBHOOKS, create_webhook
from tests.fixtures.factories import KeyFixture
from tests.fixtures.http_receiver import Receiver, Reply
from tests.worker.webhooks.support import FakeClock, emit, webhook_runtime


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def runtime(
    core_settings: CoreSettings, sessions: SessionFactory, clock: FakeClock
) -> AsyncIterator[WebhookRuntime]:
    async with webhook_runtime(core_settings, sessions, clock, timeout=2.0) as rt:
        yield rt


async def run_worker(runtime: WebhookRuntime, redis: ArqRedis) -> None:
    """A burst arq worker on webhook:deliver, then wait for the requests it started."""
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


async def tick(runtime: WebhookRuntime) -> None:
    await wake_due_webhooks({"webhooks": runtime})
    await runtime.lanes.idle()


async def test_after_rotation_the_old_secret_fails_and_the_new_one_verifies(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant: Tenant,
    sessions: SessionFactory,
    http_receiver: Receiver,
    runtime: WebhookRuntime,
    redis: ArqRedis,
) -> None:
    http_receiver.respond("/hook", Reply(200))
    created = await create_webhook(client, api_key.headers, url=http_receiver.url("/hook"))
    rotated = await client.post(
        f"{WEBHOOKS}/{created['id']}/signing_secret", headers=api_key.headers
    )
    await emit(sessions, tenant.id, EventType.DELIVERED, redis=redis)

    await run_worker(runtime, redis)

    [request] = http_receiver.on("/hook")
    headers = dict(request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["signing_secret"]).verify(request.body, headers)
    payload = Webhook(rotated.json()["signing_secret"]).verify(request.body, headers)
    assert payload["event_type"] == "delivered"


async def test_a_re_enabled_endpoint_receives_the_deliveries_that_waited(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant: Tenant,
    sessions: SessionFactory,
    http_receiver: Receiver,
    runtime: WebhookRuntime,
    redis: ArqRedis,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", *[Reply(500)] * 10, Reply(200))
    created = await create_webhook(client, api_key.headers, url=http_receiver.url("/hook"))
    await emit(sessions, tenant.id, *[EventType.DELIVERED] * 10, redis=redis)
    await run_worker(runtime, redis)
    disabled = (await client.get(f"{WEBHOOKS}/{created['id']}", headers=api_key.headers)).json()
    assert (disabled["enabled"], disabled["failure_count"]) == (True, 10)
    assert disabled["disabled_at"] is not None
    clock.advance(60)
    await tick(runtime)
    assert len(http_receiver.on("/hook")) == 10  # nothing goes to a disabled endpoint

    patched = await client.patch(
        f"{WEBHOOKS}/{created['id']}", json={"enabled": True}, headers=api_key.headers
    )
    await tick(runtime)

    assert patched.json()["disabled_at"] is None
    assert len(http_receiver.on("/hook")) == 20
    log = await client.get(f"{WEBHOOKS}/{created['id']}/deliveries", headers=api_key.headers)
    assert {d["status"] for d in log.json()["deliveries"]} == {"succeeded"}


async def test_the_deliveries_log_shows_each_attempt_and_redeliver_sends_again(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant: Tenant,
    sessions: SessionFactory,
    http_receiver: Receiver,
    runtime: WebhookRuntime,
    redis: ArqRedis,
) -> None:
    http_receiver.respond("/hook", Reply(502, b"upstream down"), Reply(200, b"thanks"))
    created = await create_webhook(client, api_key.headers, url=http_receiver.url("/hook"))
    [event] = await emit(sessions, tenant.id, EventType.BOUNCE, redis=redis)
    await run_worker(runtime, redis)

    log = (
        await client.get(f"{WEBHOOKS}/{created['id']}/deliveries", headers=api_key.headers)
    ).json()
    [delivery] = log["deliveries"]
    assert log["total"] == 1
    assert (delivery["event_id"], delivery["event_type"], delivery["status"]) == (
        event.id, "bounce", "pending",
    )  # fmt: skip
    assert (delivery["attempts"], delivery["last_status_code"]) == (1, 502)
    assert delivery["last_response"] == "upstream down"
    assert delivery["next_attempt_at"] is not None
    [attempt] = delivery["attempt_log"]
    assert (attempt["attempt"], attempt["status_code"], attempt["response"]) == (
        1,
        502,
        "upstream down",
    )

    redelivered = await client.post(
        f"{WEBHOOKS}/{created['id']}/deliveries/{delivery['id']}/redeliver", headers=api_key.headers
    )
    assert redelivered.status_code == 202
    await run_worker(runtime, redis)  # the redeliver job went through Redis

    after = (
        await client.get(
            f"{WEBHOOKS}/{created['id']}/deliveries?status=succeeded", headers=api_key.headers
        )
    ).json()
    [done] = after["deliveries"]
    assert (done["status"], done["attempts"], done["next_attempt_at"]) == ("succeeded", 2, None)
    assert [a["status_code"] for a in done["attempt_log"]] == [502, 200]
    assert [r.headers["webhook-id"] for r in http_receiver.on("/hook")] == [event.id, event.id]


async def test_event_webhook_configured_through_the_api_reaches_the_receiver_signed(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant: Tenant,
    sessions: SessionFactory,
    http_receiver: Receiver,
    runtime: WebhookRuntime,
) -> None:
    http_receiver.respond("/events", Reply(200))
    settings: dict[str, Any] = {"enabled": True, "url": http_receiver.url("/events")}
    settings |= {"delivered": True, "bounce": True, "open": False}
    await client.patch(f"{WEBHOOKS}/event/settings", json=settings, headers=api_key.headers)
    signed = await client.patch(
        f"{WEBHOOKS}/event/settings/signed", json={"enabled": True}, headers=api_key.headers
    )
    await emit(sessions, tenant.id, EventType.DELIVERED, EventType.OPEN, EventType.BLOCKED)

    await tick(runtime)

    [request] = http_receiver.on("/events")
    assert EventWebhook(signed.json()["public_key"]).verify_signature(
        request.body.decode(),
        request.headers[EventWebhookHeader.SIGNATURE],
        request.headers[EventWebhookHeader.TIMESTAMP],
    )
    events = request.json()
    assert isinstance(events, list)
    assert [(e["event"], e.get("type")) for e in events] == [
        ("delivered", None),
        ("bounce", "blocked"),
    ]
