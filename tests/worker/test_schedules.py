"""Scheduled sends: enqueued when due (deferred to send_at within the look-ahead), cancelled
batches discarded at send_at and never processed, paused batches held then expired at 72 h."""

from __future__ import annotations

from datetime import timedelta

from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.models import MailBatch, MessageStatus, Tenant
from scaisend_core.queue.contracts import EMAIL_PROCESS
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import Outcome, process_message
from scaisend_worker.schedules import enqueue_due
from tests.fixtures.messages import MessageFactory, MovableClock
from tests.worker.support import message_row, queued


async def add_batch(sessions: SessionFactory, tenant: Tenant, status: str | None) -> str:
    async with sessions() as session:
        batch = MailBatch(id=f"batch-{status}-{tenant.id[-6:]}", tenant_id=tenant.id, status=status)
        session.add(batch)
        await session.commit()
        return batch.id


async def test_a_future_send_is_enqueued_only_once_it_is_due(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    made = await message_factory(tenant, send_at=worker_clock.now + timedelta(hours=2))

    early = await enqueue_due(worker)
    worker_clock.advance(hours=2, seconds=1)
    due = await enqueue_due(worker)

    assert (early.enqueued, due.enqueued) == (0, 1)
    assert await queued(redis, EMAIL_PROCESS) == [f"process_message:{made.id}:0"]


async def test_a_send_due_within_the_look_ahead_is_deferred_to_its_send_at(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    send_at = worker_clock.now + timedelta(seconds=30)
    made = await message_factory(tenant, send_at=send_at)

    await enqueue_due(worker)

    score = await redis.zscore(EMAIL_PROCESS, f"process_message:{made.id}:0")
    assert score == int(send_at.timestamp() * 1000)


async def test_sweeping_twice_enqueues_a_message_once(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    await message_factory(tenant, send_at=worker_clock.now - timedelta(minutes=1))

    await enqueue_due(worker)
    await enqueue_due(worker)

    assert len(await queued(redis, EMAIL_PROCESS)) == 1


async def test_a_cancelled_batch_is_discarded_at_send_at_and_never_processed(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    batch = await add_batch(sessions, tenant, "cancel")
    made = await message_factory(
        tenant, batch_id=batch, send_at=worker_clock.now + timedelta(hours=1)
    )

    before = await enqueue_due(worker)
    worker_clock.advance(hours=1)
    at_send = await enqueue_due(worker)

    assert (before.cancelled, at_send.cancelled, at_send.enqueued) == (0, 1, 0)
    row = await message_row(sessions, made.id)
    assert (row.status, row.error_message) == (MessageStatus.CANCELLED, "batch cancelled")
    assert await queued(redis, EMAIL_PROCESS) == []
    assert await process_message(worker, made.id) == Outcome.SKIPPED


async def test_a_job_that_meets_a_cancelled_batch_cancels_the_message(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    batch = await add_batch(sessions, tenant, "cancel")
    made = await message_factory(tenant, batch_id=batch)

    assert await process_message(worker, made.id) == Outcome.CANCELLED
    row = await message_row(sessions, made.id)
    assert (row.status, row.mime_key) == (MessageStatus.CANCELLED, None)


async def test_a_paused_batch_holds_its_messages_then_expires_them_after_72_hours(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    batch = await add_batch(sessions, tenant, "pause")
    made = await message_factory(tenant, batch_id=batch, send_at=worker_clock.now)

    worker_clock.advance(hours=1)
    held = await enqueue_due(worker)
    job_outcome = await process_message(worker, made.id)  # a job enqueued before the pause
    still = await message_row(sessions, made.id)
    worker_clock.advance(hours=72)
    expired = await enqueue_due(worker)

    assert (held.enqueued, held.expired, job_outcome) == (0, 0, Outcome.HELD)
    assert still.status == MessageStatus.QUEUED
    assert expired.expired == 1
    row = await message_row(sessions, made.id)
    assert row.status == MessageStatus.CANCELLED
    assert "expired" in (row.error_message or "")
    assert await queued(redis, EMAIL_PROCESS) == []


async def test_an_unpaused_batch_is_sent(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    worker_clock: MovableClock,
) -> None:
    batch = await add_batch(sessions, tenant, "pause")
    made = await message_factory(tenant, batch_id=batch, send_at=worker_clock.now)
    await enqueue_due(worker)
    async with sessions() as session:
        row = await session.get(MailBatch, batch)
        assert row is not None
        row.status = None
        await session.commit()

    await enqueue_due(worker)

    assert await queued(redis, EMAIL_PROCESS) == [f"process_message:{made.id}:0"]
