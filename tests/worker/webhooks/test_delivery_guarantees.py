"""What delivery promises beyond one request: nothing is lost when the worker dies mid-request
or Redis is wiped, and the SSRF guard refuses private targets at delivery time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from arq.connections import ArqRedis
from arq.worker import Worker

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import Tenant, WebhookDelivery
from scaisend_core.queue.contracts import WEBHOOK_DELIVER
from scaisend_worker.webhooks.jobs import WEBHOOK_FUNCTIONS, deliver_webhook, wake_due_webhooks
from scaisend_worker.webhooks.runtime import WebhookRuntime, close_webhook_runtime
from tests.fixtures.dns import Zone
from tests.fixtures.http_receiver import Receiver, Reply
from tests.worker.webhooks.support import (
    BOX,
    FakeClock,
    add_endpoint,
    deliveries,
    emit,
    webhook_runtime,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def guarded_settings(core_settings: CoreSettings, dns_nameservers: list[str]) -> CoreSettings:
    """WEBHOOK_ALLOW_PRIVATE off, names resolved by the loopback DNS server."""
    return core_settings.model_copy(
        update={"webhook_allow_private": False, "dns_nameservers": dns_nameservers}
    )


async def tick(runtime: WebhookRuntime) -> None:
    await wake_due_webhooks({"webhooks": runtime})
    await runtime.lanes.idle()


async def test_a_worker_killed_mid_request_loses_nothing_even_with_redis_wiped(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
    redis: ArqRedis,
) -> None:
    http_receiver.respond("/hook", Reply(hang=True), Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    [event] = await emit(sessions, tenant.id, EventType.DELIVERED, redis=redis)
    [delivery] = await deliveries(sessions)

    async with webhook_runtime(core_settings, sessions, clock) as first:
        await deliver_webhook({"webhooks": first}, delivery.id)
        await http_receiver.wait_for(1, "/hook")
    # The process is gone mid-request (its tasks cancelled), and so is every Redis job.
    await redis.flushdb()
    [row] = await deliveries(sessions)
    assert (row.status, row.attempts) == ("pending", 0)

    async with webhook_runtime(core_settings, sessions, clock) as second:
        await tick(second)
        assert len(http_receiver.on("/hook")) == 1  # still leased to the dead worker
        clock.advance(60)  # the 30 s deadline plus the lease margin
        await tick(second)

    requests = http_receiver.on("/hook")
    assert [r.headers["webhook-id"] for r in requests] == [event.id, event.id]
    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 1, 200)


async def test_delivery_to_a_loopback_address_is_refused_without_a_request(
    guarded_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    http_receiver.respond("/hook", Reply(200))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/hook"))
    await emit(sessions, tenant.id, EventType.DELIVERED)

    async with webhook_runtime(guarded_settings, sessions, clock) as runtime:
        await tick(runtime)

    assert http_receiver.requests == []
    [row] = await deliveries(sessions)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == (
        "refused: 127.0.0.1 is a loopback, private, link-local or reserved address"
    )


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_connect(
    guarded_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
    dns: Zone,
) -> None:
    dns.a("hooks.example.test", "10.20.30.40")
    port = http_receiver.base_url.rsplit(":", 1)[1]
    await add_endpoint(sessions, tenant.id, f"http://hooks.example.test:{port}/hook")
    await emit(sessions, tenant.id, EventType.DELIVERED)

    async with webhook_runtime(guarded_settings, sessions, clock) as runtime:
        await tick(runtime)

    [row] = await deliveries(sessions)
    assert row.last_error == (
        "refused: hooks.example.test resolves to 10.20.30.40, "
        "a loopback, private, link-local or reserved address"
    )
    assert ("hooks.example.test", "A") in dns.queries


async def test_the_metadata_address_is_refused_even_when_private_targets_are_allowed(
    core_settings: CoreSettings, sessions: SessionFactory, tenant: Tenant, clock: FakeClock
) -> None:
    assert core_settings.webhook_allow_private
    await add_endpoint(sessions, tenant.id, "http://169.254.169.254/latest/meta-data/")
    await emit(sessions, tenant.id, EventType.DELIVERED)

    async with webhook_runtime(core_settings, sessions, clock) as runtime:
        await tick(runtime)

    [row] = await deliveries(sessions)
    assert row.last_error == "refused: 169.254.169.254 is a cloud metadata address"


async def test_jobs_of_a_worker_without_a_runtime_share_one_lane_per_endpoint(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    redis: ArqRedis,
) -> None:
    """arq gives each job a copy of the ctx; the runtime made by the first job must still be
    the one every later job uses, or the per-endpoint cap would not hold."""
    http_receiver.respond("/dead", Reply(hang=True))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/dead"))
    await emit(sessions, tenant.id, *[EventType.DELIVERED] * 14, redis=redis)
    ctx = {"settings": core_settings, "sessions": sessions, "secrets": BOX}
    worker = Worker(
        functions=WEBHOOK_FUNCTIONS, queue_name=WEBHOOK_DELIVER, redis_pool=redis, ctx=ctx,
        burst=True, poll_delay=0.01, handle_signals=False,
    )  # fmt: skip

    await worker.async_run()
    await http_receiver.wait_for(10, "/dead")
    await asyncio.sleep(0.3)  # room for any request beyond the cap to arrive

    try:
        assert http_receiver.in_flight == 10
        assert len(http_receiver.on("/dead")) == 10
    finally:
        await close_webhook_runtime({**ctx, "redis": redis}, drain=False)


def due_in(row: WebhookDelivery, now: datetime) -> float:
    assert row.next_attempt_at is not None
    return (row.next_attempt_at.replace(tzinfo=UTC) - now).total_seconds()


async def test_queued_deliveries_are_leased_for_their_wait_and_released_at_shutdown(
    core_settings: CoreSettings,
    sessions: SessionFactory,
    tenant: Tenant,
    http_receiver: Receiver,
    clock: FakeClock,
) -> None:
    """A lane claims more than its free slots (one claim feeds many requests). What waits for a
    slot is leased long enough to wait behind the requests ahead of it, and a shutdown hands
    it back at once instead of leaving it leased to a process that is gone."""
    http_receiver.respond("/slow", Reply(hang=True))
    endpoint = await add_endpoint(sessions, tenant.id, http_receiver.url("/slow"))
    await emit(sessions, tenant.id, *[EventType.DELIVERED] * 6)
    async with webhook_runtime(
        core_settings, sessions, clock, timeout=30.0, endpoint_concurrency=2, prefetch_rounds=2
    ) as runtime:
        started = clock()
        await wake_due_webhooks({"webhooks": runtime})
        await http_receiver.wait_for(2, "/slow")
        assert runtime.lanes.in_flight(endpoint.row.id) == 2
        rows = await deliveries(sessions)
        # 6 claimed at once: the last has 5 ahead, 2 rounds of slots, then its own request.
        assert {round(due_in(r, started)) for r in rows} == {3 * 30 + 30}
        assert len(http_receiver.on("/slow")) == 2
    rows = await deliveries(sessions)
    released = [r for r in rows if due_in(r, clock()) <= 0]
    assert len(released) == 4  # never started: due again now
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
