"""The listener through a real SMTP client (aiosmtplib) on loopback: who it accepts mail for,
what it does with it, and the limits it enforces."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import trustme
from arq.connections import ArqRedis
from arq.worker import Worker

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.queue.contracts import SMTP_INBOUND
from scaisend_core.storage import LocalStorage
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import INBOUND_FUNCTIONS, InboundContext
from scaisend_smtp.inbound.handler import InboundHandler
from scaisend_smtp.inbound.hosts import ReturnPathHosts
from scaisend_smtp.inbound.process import inbound_worker
from scaisend_smtp.inbound.server import listening, run_inbound, verp_for
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.storage import free_port
from tests.smtp.inbound import rows
from tests.smtp.inbound.conftest import ListenerFactory
from tests.smtp.inbound.goldens import BOUNCE_HOST, DATA, GOLDEN

HARD = GOLDEN["hard"]


def verp_of(golden_key: str) -> str:
    return Verp(TEST_SECRET_KEY).address(GOLDEN[golden_key].verp_id, BOUNCE_HOST)


async def send(port: int, raw: bytes, *rcpts: str, sender: str = "") -> tuple[Any, str]:
    """A DSN comes from the null sender (MAIL FROM:<>), which aiosmtplib.send() refuses."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        return await client.sendmail(sender, list(rcpts), raw)


def stored(storage: LocalStorage) -> list[Path]:
    return sorted(storage.root.rglob("*.eml")) if storage.root.exists() else []


async def test_dsn_for_a_sent_message_becomes_a_bounce_event_and_a_suppression(
    sessions: SessionFactory,
    tenant: Tenant,
    start_listener: ListenerFactory,
    drain: Callable[[], Any],
) -> None:
    await rows.sent_message(sessions, tenant, HARD)
    async with start_listener() as listener:
        _, reply = await send(
            listener.port, (DATA / "postfix_hard_bounce.eml").read_bytes(), verp_of("hard")
        )
    assert reply.startswith("2.0.0 OK queued as inb_")
    await drain()
    (event,) = await rows.events(sessions, HARD.message_id)
    assert (event.event_type, event.recipient_email) == ("bounce", "nosuchuser@scaisend.test")
    assert event.details["bounce_type"] == "hard"
    assert event.details["status"] == "5.1.1"
    assert event.details["source"] == "dsn"
    assert event.details["reason"] == 'unknown user: "nosuchuser"'
    (suppression,) = await rows.suppressions(sessions)
    assert (suppression.tenant_id, suppression.kind, suppression.email) == (
        tenant.id, "bounce", "nosuchuser@scaisend.test",
    )  # fmt: skip
    assert (suppression.source, suppression.message_id) == ("dsn", HARD.message_id)
    assert (await rows.message(sessions, HARD.message_id)).status == "bounced"
    recipient = (await rows.recipients(sessions, HARD.message_id))["nosuchuser@scaisend.test"]
    assert (recipient.status, recipient.bounce_type) == ("bounced", "hard")


async def test_arf_report_becomes_a_spam_report_event_and_a_suppression(
    sessions: SessionFactory,
    tenant: Tenant,
    start_listener: ListenerFactory,
    drain: Callable[[], Any],
) -> None:
    golden = GOLDEN["arf_yahoo"]
    await rows.sent_message(sessions, tenant, golden)
    async with start_listener() as listener:
        raw = (DATA / "arf_yahoo.eml").read_bytes()
        await send(
            listener.port, raw, "fbl@bounces.scaisend.test", sender="feedback@arf.mail.yahoo.com"
        )
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.recipient_email) == ("spam_report", "complainer@yahoo.com")
    assert event.details["feedback_type"] == "abuse"
    assert event.details["user_agent"] == "Yahoo!-Mail-Feedback/2.0"
    (suppression,) = await rows.suppressions(sessions)
    assert (suppression.kind, suppression.email, suppression.source) == (
        "spam_report", "complainer@yahoo.com", "arf",
    )  # fmt: skip
    assert (await rows.message(sessions, golden.message_id)).status == "delivered"


async def test_relaying_to_a_foreign_address_is_refused_with_550(
    start_listener: ListenerFactory, local_storage: LocalStorage
) -> None:
    async with start_listener() as listener:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(listener.port, b"Subject: hi\r\n\r\nrelay me\r\n", "victim@gmail.com")
    assert refused.value.recipients[0].code == 550
    assert stored(local_storage) == []


async def test_unknown_mailbox_on_the_inbound_domain_is_refused_with_550(
    start_listener: ListenerFactory,
) -> None:
    async with start_listener() as listener:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(
                listener.port, b"Subject: hi\r\n\r\nx\r\n", "postmaster2@bounces.scaisend.test"
            )
    assert refused.value.recipients[0].code == 550


async def test_verp_address_with_a_forged_signature_is_refused(
    start_listener: ListenerFactory,
) -> None:
    forged = verp_of("hard").replace("-zavapwm3zeixk@", "-aaaaaaaaaaaaa@")
    async with start_listener() as listener:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(listener.port, b"Subject: hi\r\n\r\nx\r\n", forged)
    assert refused.value.recipients[0].code == 550


async def test_sender_domain_return_path_host_accepts_verp_and_abuse(
    sessions: SessionFactory, tenant: Tenant, start_listener: ListenerFactory, redis: ArqRedis
) -> None:
    await rows.sender_domain(sessions, tenant, "acme.example", "bounces.acme.example")
    verp = Verp(TEST_SECRET_KEY).address(HARD.recipients[0].id, "bounces.acme.example")
    async with start_listener() as listener:
        errors, _ = await send(
            listener.port, b"Subject: hi\r\n\r\nx\r\n", verp, "abuse@bounces.acme.example"
        )
    assert errors == {}
    assert await redis.zcard(SMTP_INBOUND) == 1


async def test_message_over_the_size_limit_is_refused_with_552(
    start_listener: ListenerFactory, local_storage: LocalStorage
) -> None:
    raw = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n" * 0 + (b"y" * 78 + b"\r\n") * 100
    async with start_listener(smtp_inbound_max_size=2000) as listener:
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await send(listener.port, raw, verp_of("hard"))
    assert refused.value.code == 552
    assert stored(local_storage) == []


async def test_connections_over_the_per_ip_limit_get_421(start_listener: ListenerFactory) -> None:
    async with start_listener(smtp_inbound_max_connections_per_ip=2) as listener:
        clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port) for _ in range(2)]
        for client in clients:
            await client.connect()
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
            await aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port).connect()
        await clients[0].quit()
        await asyncio.sleep(0.05)  # the server sees the close
        third = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port)
        await third.connect()
        await third.quit()
        await clients[1].quit()
    assert refused.value.code == 421


async def test_starttls_is_offered_and_used_when_a_certificate_is_configured(
    start_listener: ListenerFactory, tmp_path: Path, redis: ArqRedis
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("mta.scaisend.test")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    client_context.check_hostname = False
    settings = {
        "smtp_inbound_tls_cert": str(tmp_path / "cert.pem"),
        "smtp_inbound_tls_key": str(tmp_path / "key.pem"),
    }
    async with start_listener(**settings) as listener:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=listener.port, tls_context=client_context, start_tls=False
        )
        await client.connect()
        await client.ehlo()
        assert client.supports_extension("starttls")
        await client.starttls()
        await client.sendmail(
            "", [verp_of("hard")], (DATA / "postfix_hard_bounce.eml").read_bytes()
        )
        await client.quit()
    assert await redis.zcard(SMTP_INBOUND) == 1


async def test_storage_failure_answers_451_so_the_sender_retries(
    start_listener: ListenerFactory, local_storage: LocalStorage, redis: ArqRedis
) -> None:
    shutil.rmtree(local_storage.root)
    local_storage.root.write_bytes(b"a file where the storage directory should be")
    async with start_listener() as listener:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(
                listener.port, (DATA / "postfix_hard_bounce.eml").read_bytes(), verp_of("hard")
            )
    assert refused.value.code == 451
    assert await redis.zcard(SMTP_INBOUND) == 0


async def test_redis_outage_answers_451(
    inbound_settings: SmtpSettings, local_storage: LocalStorage, sessions: SessionFactory
) -> None:
    dead_redis = ArqRedis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    hosts = ReturnPathHosts(sessions, inbound_settings.inbound_host)
    handler = InboundHandler(hosts, verp_for(inbound_settings), local_storage, dead_redis)
    async with listening(inbound_settings, handler):
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(
                inbound_settings.smtp_inbound_port, b"Subject: x\r\n\r\nx\r\n", verp_of("hard")
            )
    await dead_redis.aclose()
    assert refused.value.code == 451


async def test_run_inbound_serves_until_stopped_and_its_mail_is_processed(
    sessions: SessionFactory,
    tenant: Tenant,
    inbound_settings: SmtpSettings,
    redis: ArqRedis,
) -> None:
    await rows.sent_message(sessions, tenant, HARD)
    stop = asyncio.Event()
    task = asyncio.create_task(run_inbound(inbound_settings, stop))
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    try:
        for _ in range(100):  # the listener binds within a moment
            try:
                await send(inbound_settings.smtp_inbound_port, raw, verp_of("hard"))
                break
            except aiosmtplib.SMTPConnectError:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert inbound_settings.storage_dir is not None
    storage = LocalStorage(inbound_settings.storage_dir)  # where run_inbound stored it
    context = InboundContext(sessions, storage, redis, verp_for(inbound_settings))
    await inbound_worker(context, redis_pool=redis, burst=True).main()
    assert [e.event_type for e in await rows.events(sessions, HARD.message_id)] == ["bounce"]


async def test_job_builds_its_context_from_the_runner_ctx_keys(
    sessions: SessionFactory,
    tenant: Tenant,
    inbound_context: InboundContext,
    redis: ArqRedis,
    start_listener: ListenerFactory,
) -> None:
    await rows.sent_message(sessions, tenant, HARD)
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    async with start_listener() as listener:
        await send(listener.port, raw, verp_of("hard"))
    ctx = {
        "sessions": inbound_context.sessions,
        "storage": inbound_context.storage,
        "verp": inbound_context.verp,
        "jobs_redis": redis,
    }
    worker = Worker(
        functions=INBOUND_FUNCTIONS, queue_name=SMTP_INBOUND, redis_pool=redis, ctx=ctx,
        burst=True, handle_signals=False,
    )  # fmt: skip
    await worker.main()
    assert worker.jobs_complete == 1
    assert [e.event_type for e in await rows.events(sessions, HARD.message_id)] == ["bounce"]
