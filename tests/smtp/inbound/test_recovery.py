"""A stored inbound message is never stranded: when Redis loses its `process_inbound` job, the
pending mark kept beside the raw bytes lets the sweep queue it again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from prometheus_client import REGISTRY

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant, utcnow
from scaisend_smtp.inbound import store
from scaisend_smtp.inbound.process import STRANDED_AFTER, InboundContext, sweep_inbound
from tests.smtp.inbound import rows
from tests.smtp.inbound.goldens import DATA, GOLDEN
from tests.smtp.inbound.test_process import receive, verp

Drain = Callable[[], Any]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def old_inbound_id(age: timedelta) -> str:
    """An inb_ id received `age` ago (a ULID's first 10 digits are its milliseconds)."""
    ms = int((utcnow() - age).timestamp() * 1000)
    digits = "".join(_CROCKFORD[(ms >> (5 * (9 - i))) & 31] for i in range(10))
    return f"inb_{digits}{'0' * 16}"


async def sweep(context: InboundContext, *, later: timedelta = timedelta()) -> int:
    return await store.requeue_stranded(
        context.storage, context.redis, older_than=STRANDED_AFTER, now=utcnow() + later
    )


async def test_a_job_lost_with_redis_is_requeued_by_the_sweep_and_processed(
    sessions: SessionFactory,
    tenant: Tenant,
    inbound_context: InboundContext,
    redis: ArqRedis,
    drain: Drain,
) -> None:
    golden = GOLDEN["hard"]
    await rows.sent_message(sessions, tenant, golden)
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    key = await receive(inbound_context, raw, verp("hard"))
    await redis.flushdb()  # a Redis restart without persistence: the job is gone
    await drain()
    assert await rows.events(sessions, golden.message_id) == []

    assert await sweep(inbound_context) == 0  # too young: the listener's own job may be queued
    assert await sweep(inbound_context, later=STRANDED_AFTER + timedelta(minutes=1)) == 1
    await drain()

    assert [e.event_type for e in await rows.events(sessions, golden.message_id)] == ["bounce"]
    assert [s.email for s in await rows.suppressions(sessions)] == ["nosuchuser@scaisend.test"]
    assert await inbound_context.storage.exists(key)  # the raw bytes stay
    assert not await inbound_context.storage.exists(store.pending_key(key))
    assert await sweep(inbound_context, later=timedelta(hours=1)) == 0  # settled: nothing to do


async def test_a_job_still_queued_is_not_queued_twice(inbound_context: InboundContext) -> None:
    raw = (DATA / "not_a_report.eml").read_bytes()
    key = await receive(inbound_context, raw)
    assert await inbound_context.storage.exists(store.pending_key(key))
    assert await sweep(inbound_context, later=timedelta(hours=1)) == 0


async def test_the_workers_startup_sweep_processes_a_stranded_message(
    sessions: SessionFactory, tenant: Tenant, inbound_context: InboundContext, drain: Drain
) -> None:
    """Stored as the listener stores it, but with no job ever queued: only the cron finds it."""
    golden = GOLDEN["hard"]
    await rows.sent_message(sessions, tenant, golden)
    key = store.raw_key("2026-03-03", old_inbound_id(timedelta(hours=2)))
    envelope = store.InboundEnvelope(
        mail_from="", rcpt_tos=[verp("hard")], peer="127.0.0.1", helo="mx.test", tls=False,
        received_at=utcnow() - timedelta(hours=2), size=0,
    )  # fmt: skip
    storage = inbound_context.storage
    await storage.put(key, (DATA / "postfix_hard_bounce.eml").read_bytes())
    await storage.put(store.envelope_key(key), envelope.model_dump_json().encode())
    await storage.put(store.pending_key(key), b"")

    await drain()

    assert [e.event_type for e in await rows.events(sessions, golden.message_id)] == ["bounce"]
    assert not await storage.exists(store.pending_key(key))


def requeued_total() -> float:
    return REGISTRY.get_sample_value("scaisend_inbound_requeued_total") or 0.0


async def test_the_sweep_cron_counts_what_it_requeues(inbound_context: InboundContext) -> None:
    """An operator sees lost jobs on /metrics, not only in the logs."""
    key = store.raw_key("2026-03-03", old_inbound_id(timedelta(hours=2)))
    await inbound_context.storage.put(key, (DATA / "not_a_report.eml").read_bytes())
    await inbound_context.storage.put(store.pending_key(key), b"")
    before = requeued_total()

    assert await sweep_inbound({"inbound": inbound_context}) == 1
    assert requeued_total() == before + 1
    assert await sweep_inbound({"inbound": inbound_context}) == 0  # its job is queued now
    assert requeued_total() == before + 1


async def test_unusable_and_missing_messages_are_settled_too(
    inbound_context: InboundContext,
) -> None:
    from scaisend_smtp.inbound.process import process

    key = await receive(inbound_context, (DATA / "not_a_report.eml").read_bytes())
    assert await process(inbound_context, key) == "unrecognised"
    assert not await inbound_context.storage.exists(store.pending_key(key))
    gone = store.raw_key("2026-03-03", old_inbound_id(timedelta(hours=1)))
    await inbound_context.storage.put(store.pending_key(gone), b"")
    assert await process(inbound_context, gone) == "missing"
    assert not await inbound_context.storage.exists(store.pending_key(gone))
