"""The `process_inbound` job: what each kind of report does to events, recipients, messages and
suppression lists, and how unusable input is kept and accounted for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arq.connections import ArqRedis
from prometheus_client import REGISTRY
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.ids import new_id
from scaisend_core.models import Tenant, WebhookDelivery, WebhookEndpoint, utcnow
from scaisend_core.queue.contracts import WEBHOOK_DELIVER
from scaisend_core.repositories.tenants import create_tenant
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import store
from scaisend_smtp.inbound.process import InboundContext, process
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.smtp.inbound import rows
from tests.smtp.inbound.goldens import BOUNCE_HOST, DATA, GOLDEN

Drain = Callable[[], Any]


async def receive(context: InboundContext, raw: bytes, rcpt: str | None = None) -> str:
    """Store a message as the listener does (for the VERP address of `rcpt` or fbl@)."""
    envelope = store.InboundEnvelope(
        mail_from="", rcpt_tos=[rcpt or f"fbl@{BOUNCE_HOST}"], peer="127.0.0.1", helo="mx.test",
        tls=False, received_at=utcnow(), size=len(raw),
    )  # fmt: skip
    return await store.accept(context.storage, context.redis, raw, envelope)


def verp(key: str) -> str:
    return Verp(TEST_SECRET_KEY).address(GOLDEN[key].verp_id, BOUNCE_HOST)


def counted(kind: str, outcome: str) -> float:
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("scaisend_inbound_messages_total", labels) or 0.0


async def test_multi_recipient_dsn_bounces_each_failed_recipient_and_keeps_the_message_delivered(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["multi"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(
        inbound_context, (DATA / "postfix_multi_recipient.eml").read_bytes(), verp("multi")
    )
    await drain()
    events = await rows.events(sessions, golden.message_id)
    assert sorted((e.event_type, e.recipient_email) for e in events) == [
        ("bounce", "ghost1@scaisend.test"),
        ("bounce", "ghost2@scaisend.test"),
    ]
    states = {e: r.status for e, r in (await rows.recipients(sessions, golden.message_id)).items()}
    assert states == {
        "ghost1@scaisend.test": "bounced",
        "ghost2@scaisend.test": "bounced",
        "reader@inbox.test": "delivered",
    }
    assert (await rows.message(sessions, golden.message_id)).status == "delivered"
    assert [s.email for s in await rows.suppressions(sessions)] == [
        "ghost1@scaisend.test",
        "ghost2@scaisend.test",
    ]


async def test_policy_rejection_is_a_blocked_event_and_a_block_suppression(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["block"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(inbound_context, (DATA / "postfix_remote_block.eml").read_bytes(), verp("block"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert event.event_type == "blocked"
    assert (event.details["bounce_type"], event.details["status"]) == ("block", "5.7.1")
    assert event.details["bounce_classification"] == "Content"
    (suppression,) = await rows.suppressions(sessions)
    assert (suppression.kind, suppression.bounce_type) == ("block", "block")


async def test_delayed_dsn_records_a_deferred_event_only(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["slow"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(inbound_context, (DATA / "postfix_delayed.eml").read_bytes(), verp("slow"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.details["status"]) == ("deferred", "4.4.1")
    assert event.details["smtp_response"].startswith("connect to 127.0.0.1")
    assert await rows.suppressions(sessions) == []
    assert (await rows.recipients(sessions, golden.message_id))[
        "late@slow.test"
    ].status == "delivered"
    assert (await rows.message(sessions, golden.message_id)).status == "delivered"


async def test_expired_message_is_a_soft_bounce(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["slow"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(inbound_context, (DATA / "postfix_expired.eml").read_bytes(), verp("slow"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.details["bounce_type"]) == ("bounce", "soft")


async def test_the_same_dsn_twice_records_one_bounce(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["hard"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    before = counted("dsn", "duplicate")
    await receive(inbound_context, raw, verp("hard"))
    await receive(inbound_context, raw, verp("hard"))
    await drain()
    assert [e.event_type for e in await rows.events(sessions, golden.message_id)] == ["bounce"]
    assert counted("dsn", "duplicate") == before + 1


async def test_correlation_by_message_id_header_alone(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["gmail"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (DATA / "gmail_hard_bounce.eml").read_bytes()
    lines = raw.split(b"\n")
    anonymous = b"\n".join(
        line for line in lines if not line.startswith((b"Return-Path: <bounces", b"X-ScaiSend"))
    )
    await receive(inbound_context, anonymous, f"abuse@{BOUNCE_HOST}")
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.recipient_email) == ("bounce", "nosuchuser@gmail.com")


async def test_text_bounce_from_yahoo_is_a_hard_bounce(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["yahoo"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(inbound_context, (DATA / "yahoo_plaintext.eml").read_bytes(), verp("yahoo"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.details["bounce_type"]) == ("bounce", "hard")
    assert event.details["source"] == "bounce_text"
    assert event.details["status"] == "5.0.0"


async def test_exim_vague_status_takes_the_code_the_diagnostic_quotes(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["exim_remote"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (DATA / "exim_remote_rejected.eml").read_bytes()
    await receive(inbound_context, raw, verp("exim_remote"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.details["status"], event.details["bounce_type"]) == ("5.1.1", "hard")


async def test_exim_unrouteable_address_is_a_hard_bounce_read_from_the_notice(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["exim_local"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (DATA / "exim_local_unrouteable.eml").read_bytes()
    await receive(inbound_context, raw, verp("exim_local"))
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.details["bounce_type"]) == ("bounce", "hard")
    assert event.details["reason"] == "nosuchuser@scaisend.test Unrouteable address"


async def test_microsoft_report_with_redacted_recipient_finds_it_by_verp(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["arf_microsoft"]
    await rows.sent_message(sessions, tenant, golden)
    await receive(inbound_context, (DATA / "arf_microsoft_jmrp.eml").read_bytes())
    await drain()
    (event,) = await rows.events(sessions, golden.message_id)
    assert (event.event_type, event.recipient_email) == ("spam_report", "someone@outlook.com")
    (suppression,) = await rows.suppressions(sessions)
    assert (suppression.kind, suppression.ip) == ("spam_report", "198.51.100.25")


async def test_not_spam_feedback_is_ignored(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    golden = GOLDEN["arf_yahoo"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (
        (DATA / "arf_yahoo.eml")
        .read_bytes()
        .replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    )
    key = await receive(inbound_context, raw)
    assert await process(inbound_context, key) == "ignored"
    assert await rows.events(sessions, golden.message_id) == []
    assert await rows.suppressions(sessions) == []


async def test_suppression_lands_on_the_tenant_that_sent_the_message(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    async with sessions() as session:
        other = await create_tenant(session, "Other Corp")
        await session.commit()
    await rows.sent_message(sessions, other, GOLDEN["hard"])
    await receive(inbound_context, (DATA / "postfix_hard_bounce.eml").read_bytes(), verp("hard"))
    await drain()
    assert [(s.tenant_id, s.email) for s in await rows.suppressions(sessions)] == [
        (other.id, "nosuchuser@scaisend.test")
    ]


async def test_dsn_for_a_message_we_do_not_know_is_kept_counted_and_marked(
    sessions: SessionFactory, inbound_context: InboundContext
) -> None:
    before = counted("dsn", "unmatched")
    key = await receive(
        inbound_context, (DATA / "postfix_hard_bounce.eml").read_bytes(), verp("hard")
    )
    assert await process(inbound_context, key) == "unmatched"
    assert counted("dsn", "unmatched") == before + 1
    assert await inbound_context.storage.exists(key)
    mark = store.UnmatchedMark.model_validate_json(
        await inbound_context.storage.get(store.unmatched_key(key))
    )
    assert (mark.storage_key, mark.kind, mark.outcome) == (key, "dsn", "unmatched")
    assert mark.reason == "no message of ours matches the report"


async def test_mail_that_is_no_report_is_kept_and_marked_unrecognised(
    inbound_context: InboundContext,
) -> None:
    before = counted("unknown", "unrecognised")
    key = await receive(
        inbound_context, (DATA / "not_a_report.eml").read_bytes(), f"abuse@{BOUNCE_HOST}"
    )
    assert await process(inbound_context, key) == "unrecognised"
    assert counted("unknown", "unrecognised") == before + 1
    assert await inbound_context.storage.get(key) == (DATA / "not_a_report.eml").read_bytes()
    mark = store.UnmatchedMark.model_validate_json(
        await inbound_context.storage.get(store.unmatched_key(key))
    )
    assert mark.reason == "not a DSN, an ARF report or a known bounce format"


async def test_a_missing_stored_message_is_reported_not_retried(
    inbound_context: InboundContext,
) -> None:
    assert await process(inbound_context, "inbound/2026-03-03/inb_missing.eml") == "missing"


async def test_a_lost_envelope_still_correlates_by_the_returned_headers(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext
) -> None:
    golden = GOLDEN["hard"]
    await rows.sent_message(sessions, tenant, golden)
    key = await receive(
        inbound_context, (DATA / "postfix_hard_bounce.eml").read_bytes(), verp("hard")
    )
    await inbound_context.storage.put(store.envelope_key(key), b"{not json")
    assert await process(inbound_context, key) == "applied"
    assert [e.event_type for e in await rows.events(sessions, golden.message_id)] == ["bounce"]


async def test_a_subscribed_webhook_endpoint_gets_the_spam_report_delivery_queued(
    sessions: SessionFactory,
    tenant: Tenant,
    inbound_context: InboundContext,
    drain: Drain,
    redis: ArqRedis,
) -> None:
    golden = GOLDEN["arf_yahoo"]
    await rows.sent_message(sessions, tenant, golden)
    async with sessions() as session:
        session.add(
            WebhookEndpoint(
                id=new_id("wh"), tenant_id=tenant.id, url="https://hooks.acme.example/scaisend",
                enabled_events=["spam_report"],
            )
        )  # fmt: skip
        await session.commit()
    await receive(inbound_context, (DATA / "arf_yahoo.eml").read_bytes())
    await drain()
    async with sessions() as session:
        (delivery,) = (await session.exec(select(WebhookDelivery))).all()
    (event,) = await rows.events(sessions, golden.message_id)
    assert delivery.event_id == event.id
    assert await redis.zcard(WEBHOOK_DELIVER) == 1
