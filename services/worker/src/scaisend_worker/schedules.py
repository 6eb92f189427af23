"""Scheduled sends: enqueue messages whose `send_at` is (about to be) due, each job deferred to
its exact send_at; discard those of cancelled batches at send_at and those of paused batches
72 h after it (SendGrid's scheduled-send rules). A paused batch simply holds its messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scaisend_core.queue import ProcessMessage, enqueue_many
from scaisend_worker import repository as repo
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import PAUSED_EXPIRY

SWEEP_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ScheduleSweep:
    enqueued: int
    cancelled: int
    expired: int


async def enqueue_due(app: WorkerContext, now: datetime | None = None) -> ScheduleSweep:
    now = now or app.clock()
    lookahead = timedelta(seconds=app.settings.schedule_lookahead_seconds)
    async with app.sessions() as session:
        due = await repo.due_scheduled(session, now + lookahead, SWEEP_LIMIT)
        cancelled = await repo.held_due(session, repo.CANCEL, now, SWEEP_LIMIT)
        expired = await repo.held_due(session, repo.PAUSE, now - PAUSED_EXPIRY, SWEEP_LIMIT)
        cancelled_count = await repo.discard(session, cancelled, "batch cancelled")
        expired_count = await repo.discard(
            session, expired, "batch paused for more than 72 hours; discarded as expired"
        )
        await session.commit()
    jobs = [(ProcessMessage(message_id=i), at if at > now else None) for i, at in due]
    await enqueue_many(app.redis, jobs)  # an id already queued or running is skipped
    return ScheduleSweep(len(due), cancelled_count, expired_count)
