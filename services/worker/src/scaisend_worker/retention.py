"""Retention: rendered bodies and attachments of finished messages older than
MESSAGE_RETENTION_DAYS are deleted from object storage, and the rows forget their keys. Rows go
first (committed), objects second: a crash in between leaves an unreferenced object, never a
row pointing at nothing. Attachment objects are shared by content within a tenant, so one is
deleted only when no remaining message refers to it."""

from __future__ import annotations

from datetime import datetime, timedelta

from scaisend_worker import repository as repo
from scaisend_worker.context import WorkerContext

SWEEP_LIMIT = 500


async def clean_expired(app: WorkerContext, now: datetime | None = None) -> int:
    """One sweep; returns how many objects were deleted."""
    now = now or app.clock()
    cutoff = now - timedelta(days=app.settings.message_retention_days)
    async with app.sessions() as session:
        expired = await repo.expired_bodies(session, cutoff, SWEEP_LIMIT)
        ids = [message_id for message_id, _ in expired]
        attachment_keys = await repo.take_attachments(session, ids)
        await repo.forget_bodies(session, ids)
        orphaned = attachment_keys - await repo.still_referenced(session, attachment_keys)
        await session.commit()
    keys = sorted({key for _, key in expired if key} | orphaned)
    for key in keys:
        await app.storage.delete(key)
    return len(keys)
