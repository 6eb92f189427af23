"""`scaisend smtp --inbound-only` as the runner wires it: its listener takes a DSN and its
`smtp:inbound` worker (INBOUND_FUNCTIONS with the runner's ctx) records the bounce."""

from __future__ import annotations

import asyncio

import aiosmtplib
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.verp import Verp
from scaisend_smtp.runner import run_smtp
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.smtp.inbound import rows
from tests.smtp.inbound.goldens import BOUNCE_HOST, DATA, GOLDEN

HARD = GOLDEN["hard"]


async def test_inbound_only_service_receives_and_processes_a_dsn(
    sessions: SessionFactory, tenant: Tenant, inbound_settings: SmtpSettings, redis: ArqRedis
) -> None:
    await rows.sent_message(sessions, tenant, HARD)
    settings = inbound_settings.model_copy(update={"smtp_poll_delay": 0.05})
    stop = asyncio.Event()
    service = asyncio.create_task(run_smtp(settings, stop, outbound=False, metrics=False))
    verp = Verp(TEST_SECRET_KEY).address(HARD.verp_id, BOUNCE_HOST)
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    try:
        for _ in range(100):  # until the listener is bound
            try:
                async with aiosmtplib.SMTP(
                    hostname="127.0.0.1", port=settings.smtp_inbound_port
                ) as c:
                    await c.sendmail("", [verp], raw)
                break
            except aiosmtplib.SMTPConnectError:
                await asyncio.sleep(0.05)
        for _ in range(200):  # until the runner's worker has processed it
            if await rows.events(sessions, HARD.message_id):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(service, 60)
    assert [e.event_type for e in await rows.events(sessions, HARD.message_id)] == ["bounce"]
    assert [s.email for s in await rows.suppressions(sessions)] == ["nosuchuser@scaisend.test"]
