"""The reconciler: Redis is a rebuildable index of work. A message whose state says work is due
(`queued` and due, `processing`, `rendered`, `sending` with a retry due) but that nobody touched
for a grace period gets its job enqueued again under the same deterministic id, which is a no-op
while the job still exists. So a wiped Redis, a lost job or a worker killed mid-message loses
nothing.

A `sending` message's next job is DeliverMessage(attempt = messages.attempts) (the SMTP claim
stores attempt + 1), deferred until its next_attempt_at; the attempt before it may still be
running (a slow SMTP conversation), and then nothing is enqueued, so two attempts never overlap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix

from scaisend_core.models import MessageStatus
from scaisend_core.queue import DeliverMessage, Job, ProcessMessage, enqueue_many
from scaisend_worker import repository as repo
from scaisend_worker.context import WorkerContext

SWEEP_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ReconcileSweep:
    queued: int
    processing: int
    rendered: int
    sending: int
    enqueued: int  # jobs that were really missing from Redis


async def reconcile(app: WorkerContext, now: datetime | None = None) -> ReconcileSweep:
    now = now or app.clock()
    grace = timedelta(seconds=app.settings.reconcile_grace_seconds)
    cutoff = now - grace
    async with app.sessions() as session:
        queued = await repo.stale(session, MessageStatus.QUEUED, cutoff, SWEEP_LIMIT)
        processing = await repo.stale(session, MessageStatus.PROCESSING, cutoff, SWEEP_LIMIT)
        rendered = await repo.stale(session, MessageStatus.RENDERED, cutoff, SWEEP_LIMIT)
        sending = await repo.stale_sending(session, cutoff, now + grace, SWEEP_LIMIT)
        await repo.requeue_processing(session, [i for i, _ in processing])
        await session.commit()
    jobs: list[Job | tuple[Job, datetime | None]] = [
        ProcessMessage(message_id=i) for i, _ in queued + processing
    ]
    jobs += [DeliverMessage(message_id=i, attempt=attempts) for i, attempts in rendered]
    jobs += await _retries(app.redis, sending, now)
    added = await enqueue_many(app.redis, jobs)
    return ReconcileSweep(len(queued), len(processing), len(rendered), len(sending), added)


async def _retries(
    redis: ArqRedis, sending: list[tuple[str, int, datetime | None]], now: datetime
) -> list[tuple[Job, datetime | None]]:
    """The next attempt of each `sending` message whose previous attempt is not running."""
    running_ids = [
        f"{in_progress_key_prefix}{DeliverMessage(message_id=i, attempt=n - 1).job_id()}"
        for i, n, _ in sending
    ]
    async with redis.pipeline(transaction=False) as pipe:
        for key in running_ids:
            pipe.exists(key)
        running = await pipe.execute() if running_ids else []
    return [
        (DeliverMessage(message_id=i, attempt=n), at if at is not None and at > now else None)
        for (i, n, at), busy in zip(sending, running, strict=True)
        if not busy
    ]
