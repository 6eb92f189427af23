"""Events roll up into daily_stats per tenant, day and category ('' = all): requests per
message, unique opens and clicks per message and recipient, drops by reason; replaying never
double counts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import METRICS, DailyStats, Tenant
from scaisend_core.repositories.daily_stats import roll_up
from scaisend_core.repositories.events import NewEvent, record_events
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import process_message
from scaisend_worker.stats import roll_up_stats
from tests.fixtures.messages import Made, MessageFactory, MovableClock


async def emit(
    sessions: SessionFactory, made: Made, kind: EventType, email: str, at: Any, **details: Any
) -> None:
    async with sessions() as session:
        event = NewEvent(made.message.tenant_id, kind, made.id, email, details, occurred_at=at)
        await record_events(session, [event])
        await session.commit()


async def stats(sessions: SessionFactory, tenant: Tenant) -> dict[tuple[date, str], dict[str, int]]:
    async with sessions() as session:
        rows = await session.exec(select(DailyStats).where(col(DailyStats.tenant_id) == tenant.id))
        return {
            (r.day, r.category): {m: getattr(r, m) for m in METRICS if getattr(r, m)}
            for r in rows.all()
        }


async def test_processing_counts_a_request_per_message_and_processed_per_recipient(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(
        tenant, to=["a@example.test", "b@example.test"], categories=["welcome"]
    )
    await process_message(worker, made.id)

    counted = await roll_up_stats(worker)

    day = worker_clock.now.date()
    assert counted == 2
    assert await stats(sessions, tenant) == {
        (day, ""): {"requests": 1, "processed": 2},
        (day, "welcome"): {"requests": 1, "processed": 2},
    }


async def test_rolling_up_again_counts_nothing_twice(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(tenant)
    await process_message(worker, made.id)
    await roll_up_stats(worker)
    before = await stats(sessions, tenant)

    again = await roll_up_stats(worker)

    assert again == 0
    assert await stats(sessions, tenant) == before


async def test_unique_opens_and_clicks_count_the_first_per_recipient_across_batches(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(tenant, to=["a@example.test", "b@example.test"])
    now = worker_clock.now
    await emit(sessions, made, EventType.OPEN, "a@example.test", now)
    await emit(sessions, made, EventType.OPEN, "a@example.test", now + timedelta(seconds=1))
    await emit(sessions, made, EventType.CLICK, "a@example.test", now + timedelta(seconds=2))
    async with sessions() as session:  # a small batch: the events span two roll-ups
        await roll_up(session, limit=1)
        await session.commit()
    await emit(sessions, made, EventType.OPEN, "a@example.test", now + timedelta(seconds=3))
    await emit(sessions, made, EventType.OPEN, "b@example.test", now + timedelta(seconds=4))

    await roll_up_stats(worker)

    assert (await stats(sessions, tenant))[(now.date(), "")] == {
        "opens": 4, "unique_opens": 2, "clicks": 1, "unique_clicks": 1,
    }  # fmt: skip


async def test_each_event_type_lands_in_its_metric(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(tenant)
    now, who = worker_clock.now, "ada@example.test"
    for kind in (EventType.DELIVERED, EventType.DEFERRED, EventType.BOUNCE, EventType.BLOCKED,
                 EventType.SPAM_REPORT, EventType.UNSUBSCRIBE, EventType.GROUP_UNSUBSCRIBE):  # fmt: skip
        await emit(sessions, made, kind, who, now)
    await emit(sessions, made, EventType.DROPPED, who, now, reason="suppressed_bounce")
    await emit(sessions, made, EventType.DROPPED, who, now, reason="suppressed_spam")
    await emit(sessions, made, EventType.DROPPED, who, now, reason="suppressed_unsubscribe")

    await roll_up_stats(worker)

    assert (await stats(sessions, tenant))[(now.date(), "")] == {
        "requests": 1, "delivered": 1, "deferred": 1, "bounces": 2, "blocks": 1,
        "spam_reports": 1, "unsubscribes": 2, "drops": 3, "bounce_drops": 1,
        "spam_report_drops": 1, "unsubscribe_drops": 1,
    }  # fmt: skip


async def test_events_are_counted_on_their_own_utc_day(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(tenant)
    today = worker_clock.now
    await emit(sessions, made, EventType.DELIVERED, "ada@example.test", today - timedelta(days=1))
    await emit(sessions, made, EventType.DELIVERED, "ada@example.test", today)

    await roll_up_stats(worker)

    found = await stats(sessions, tenant)
    assert found[(today.date() - timedelta(days=1), "")] == {"delivered": 1}
    assert found[(today.date(), "")] == {"delivered": 1}


async def test_a_second_worker_does_not_roll_up_while_one_holds_the_lock(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant
) -> None:
    made = await message_factory(tenant)
    await process_message(worker, made.id)
    lock = worker.redis.lock("scaisend:lock:stats-rollup", timeout=30)
    assert await lock.acquire(blocking=False)
    try:
        assert await roll_up_stats(worker) == 0
    finally:
        await lock.release()

    assert await roll_up_stats(worker) == 1
