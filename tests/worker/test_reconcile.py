"""The reconciler rebuilds Redis from MySQL: after FLUSHDB every accepted message still reaches
the smtp:deliver queue, and a message waiting for an SMTP retry gets its retry job back at its
retry time; jobs still in Redis (or an attempt still running) are not duplicated; fresh messages
are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from arq.connections import ArqRedis
from arq.utils import to_unix_ms

from scaisend_core.db import SessionFactory
from scaisend_core.models import MessageStatus, Tenant, utcnow
from scaisend_core.queue import ProcessMessage, enqueue_many
from scaisend_core.queue.contracts import EMAIL_PROCESS, SMTP_DELIVER
from scaisend_core.repositories.messages import transition
from scaisend_worker.context import WorkerContext
from scaisend_worker.reconcile import reconcile
from scaisend_worker.runner import run_worker
from tests.fixtures.messages import MessageFactory, worker_config
from tests.worker.support import message_row, queued


def after_grace(app: WorkerContext) -> datetime:
    return utcnow() + timedelta(seconds=app.settings.reconcile_grace_seconds + 1)


async def test_after_a_redis_wipe_every_accepted_message_still_reaches_smtp_deliver(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    test_env: dict[str, str],
) -> None:
    accepted = [await message_factory(tenant, to=[f"r{i}@example.test"]) for i in range(3)]
    await enqueue_many(redis, [ProcessMessage(message_id=m.id) for m in accepted])
    already_rendered = await message_factory(tenant)
    async with sessions() as session:  # rendered, but its delivery job is about to be lost
        await transition(
            session, already_rendered.id, [MessageStatus.QUEUED], MessageStatus.RENDERED,
            mime_key="mime/x.eml",
        )  # fmt: skip
        await session.commit()

    await redis.flushdb()
    sweep = await reconcile(worker, now=after_grace(worker))
    stats = await run_worker(worker_config(test_env), burst=True, metrics=False)

    assert (sweep.queued, sweep.rendered, sweep.enqueued) == (3, 1, 4)
    assert stats.complete == 3
    expected = {f"deliver_message:{m.id}:0" for m in [*accepted, already_rendered]}
    assert set(await queued(redis, SMTP_DELIVER)) == expected
    for made in accepted:
        assert (await message_row(sessions, made.id)).status == MessageStatus.RENDERED


async def test_a_job_still_in_redis_is_not_enqueued_twice(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, redis: ArqRedis
) -> None:
    made = await message_factory(tenant)
    await enqueue_many(redis, [ProcessMessage(message_id=made.id)])

    sweep = await reconcile(worker, now=after_grace(worker))

    assert (sweep.queued, sweep.enqueued) == (1, 0)
    assert await queued(redis, EMAIL_PROCESS) == [f"process_message:{made.id}:0"]


async def test_messages_younger_than_the_grace_period_are_left_alone(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, redis: ArqRedis
) -> None:
    await message_factory(tenant)

    sweep = await reconcile(worker, now=utcnow())

    assert sweep.queued == 0
    assert await queued(redis, EMAIL_PROCESS) == []


async def test_a_message_left_in_processing_goes_back_to_the_queue(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    made = await message_factory(tenant)
    async with sessions() as session:  # a worker died after committing the claim
        await transition(session, made.id, [MessageStatus.QUEUED], MessageStatus.PROCESSING)
        await session.commit()

    sweep = await reconcile(worker, now=after_grace(worker))

    assert sweep.processing == 1
    assert (await message_row(sessions, made.id)).status == MessageStatus.QUEUED
    assert await queued(redis, EMAIL_PROCESS) == [f"process_message:{made.id}:0"]


async def test_future_scheduled_sends_are_not_reconciled_early(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, redis: ArqRedis
) -> None:
    later = after_grace(worker)
    await message_factory(tenant, send_at=later + timedelta(hours=5))

    sweep = await reconcile(worker, now=later)

    assert sweep.queued == 0


async def _sending(
    sessions: SessionFactory, message_id: str, attempts: int, next_at: datetime | None
) -> None:
    """The row the SMTP service leaves after attempt `attempts - 1` deferred a recipient."""
    async with sessions() as session:
        await transition(
            session, message_id, [MessageStatus.QUEUED], MessageStatus.SENDING,
            mime_key="mime/x.eml", attempts=attempts, next_attempt_at=next_at,
        )  # fmt: skip
        await session.commit()


async def test_a_sending_message_whose_retry_job_was_lost_gets_it_back_at_its_retry_time(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    now = after_grace(worker)
    retry_at = now + timedelta(seconds=60)
    deferred, overdue = await message_factory(tenant), await message_factory(tenant)
    await _sending(sessions, deferred.id, 2, retry_at)
    await _sending(sessions, overdue.id, 1, now - timedelta(minutes=10))
    await redis.flushdb()

    sweep = await reconcile(worker, now=now)

    assert (sweep.sending, sweep.enqueued) == (2, 2)
    retry_id, overdue_id = f"deliver_message:{deferred.id}:2", f"deliver_message:{overdue.id}:1"
    assert set(await queued(redis, SMTP_DELIVER)) == {retry_id, overdue_id}
    assert await redis.zscore(SMTP_DELIVER, retry_id) == to_unix_ms(retry_at)  # as arq rounds
    assert (await redis.zscore(SMTP_DELIVER, overdue_id) or 0) <= utcnow().timestamp() * 1000
    assert (await reconcile(worker, now=now)).enqueued == 0  # the jobs exist now


async def test_a_sending_message_whose_attempt_is_still_running_is_left_alone(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    made = await message_factory(tenant)
    await _sending(sessions, made.id, 3, None)  # attempt 2 claimed it and is talking SMTP
    await redis.set(f"arq:in-progress:deliver_message:{made.id}:2", b"1")

    sweep = await reconcile(worker, now=after_grace(worker))

    assert (sweep.sending, sweep.enqueued) == (1, 0)
    assert await queued(redis, SMTP_DELIVER) == []


async def test_a_retry_hours_away_is_not_swept_yet(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    now = after_grace(worker)
    made = await message_factory(tenant)
    await _sending(sessions, made.id, 1, now + timedelta(hours=4))

    sweep = await reconcile(worker, now=now)

    assert sweep.sending == 0
    assert await queued(redis, SMTP_DELIVER) == []
