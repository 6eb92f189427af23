"""`scaisend smtp` in-process: the arq worker on smtp:deliver takes DeliverMessage jobs (burst
mode drains and returns; otherwise it runs until told to stop)."""

from __future__ import annotations

import asyncio
import gc

import aiosmtplib
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.queue import DeliverMessage, enqueue
from scaisend_smtp.runner import GEN0_THRESHOLD, run_smtp
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.fixtures.storage import free_port
from tests.smtp.support import DomainFixture, load, route


async def test_a_burst_worker_delivers_queued_messages_and_returns(
    smtp_settings: SmtpSettings, mx: MxFleet, dns: Zone, tenant: Tenant,
    sender_domain: DomainFixture, rendered_factory: RenderedFactory, sessions: SessionFactory,
    redis: ArqRedis,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    messages = [await rendered_factory(tenant, [f"user{i}@inbox.test"]) for i in range(3)]
    for message in messages:
        assert await enqueue(redis, DeliverMessage(message_id=message.id))

    await run_smtp(smtp_settings, asyncio.Event(), inbound=False, burst=True)

    assert len(mx[0].received) == 3
    for message in messages:
        stored, _ = await load(sessions, message.id)
        assert stored.status == "delivered"


async def test_the_startup_heap_is_frozen_and_the_young_generation_grows(
    smtp_settings: SmtpSettings, redis: ArqRedis
) -> None:
    before = gc.get_threshold()
    try:
        await run_smtp(smtp_settings, asyncio.Event(), inbound=False, burst=True)

        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GEN0_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_worker_runs_until_stopped(
    smtp_settings: SmtpSettings, mx: MxFleet, dns: Zone, tenant: Tenant,
    sender_domain: DomainFixture, rendered_factory: RenderedFactory, sessions: SessionFactory,
    redis: ArqRedis,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    stop = asyncio.Event()
    service = asyncio.create_task(run_smtp(smtp_settings, stop, inbound=False))
    message = await rendered_factory(tenant, ["ada@inbox.test"])
    await enqueue(redis, DeliverMessage(message_id=message.id))

    for _ in range(200):
        if mx[0].received:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(service, timeout=10)

    assert len(mx[0].received) == 1
    stored, _ = await load(sessions, message.id)
    assert stored.status == "delivered"


async def test_the_inbound_listener_runs_beside_the_outbound_worker(
    smtp_settings: SmtpSettings, sessions: SessionFactory, redis: ArqRedis
) -> None:
    port = free_port()
    settings = smtp_settings.model_copy(
        update={"smtp_inbound_host": "127.0.0.1", "smtp_inbound_port": port}
    )
    stop = asyncio.Event()
    service = asyncio.create_task(run_smtp(settings, stop))
    try:
        reply = None
        for _ in range(100):
            try:
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5)
                reply = await client.connect()
                await client.quit()
                break
            except aiosmtplib.SMTPConnectError:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=15)
    assert reply is not None
    assert reply.code == 220
