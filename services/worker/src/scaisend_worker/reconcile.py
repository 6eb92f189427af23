"""The reconciler: Redis is a rebuildable index of work. A message whose state says work is due
(`queued` and due, `processing`, `rendered`) but that nobody touched for a grace period gets its
job enqueued again under the same deterministic id, which is a no-op while the job still exists.
So a wiped Redis, a lost job or a worker killed mid-message loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
    enqueued: int  # jobs that were really missing from Redis


async def reconcile(app: WorkerContext, now: datetime | None = None) -> ReconcileSweep:
    now = now or app.clock()
    cutoff = now - timedelta(seconds=app.settings.reconcile_grace_seconds)
    async with app.sessions() as session:
        queued = await repo.stale(session, MessageStatus.QUEUED, cutoff, SWEEP_LIMIT)
        processing = await repo.stale(session, MessageStatus.PROCESSING, cutoff, SWEEP_LIMIT)
        rendered = await repo.stale(session, MessageStatus.RENDERED, cutoff, SWEEP_LIMIT)
        await repo.requeue_processing(session, [i for i, _ in processing])
        await session.commit()
    jobs: list[Job] = [ProcessMessage(message_id=i) for i, _ in queued + processing]
    jobs += [DeliverMessage(message_id=i, attempt=attempts) for i, attempts in rendered]
    added = await enqueue_many(app.redis, jobs)
    return ReconcileSweep(len(queued), len(processing), len(rendered), added)
