"""Retention: rendered bodies and attachments of finished messages older than
MESSAGE_RETENTION_DAYS are deleted from object storage, and the rows forget their keys. Rows go
first (committed), objects second: a crash in between leaves an unreferenced object, never a
row pointing at nothing. Attachment objects are shared by content within a tenant, so one is
deleted only when no remaining message refers to it.

Inbound mail (DSNs and ARF reports the SMTP service stored under `inbound/`) has no rows: its
keys are dated by receipt (`inbound/<day>/…`, `inbound/pending/<day>/…`,
`inbound/unmatched/<day>/…`), so a sweep lists each prefix oldest first and deletes the days
before the cutoff. Pending marks go first, so the SMTP service never re-queues a report whose
bytes are gone."""

from __future__ import annotations

from datetime import datetime, timedelta

from scaisend_worker import repository as repo
from scaisend_worker.context import WorkerContext

SWEEP_LIMIT = 500
# Inbound prefixes, pending marks first; "2" starts every dated day (YYYY-MM-DD) and skips the
# nested prefixes when listing `inbound/`.
INBOUND_PREFIXES = ("inbound/pending/", "inbound/unmatched/", "inbound/")
INBOUND_PAGES = 20  # pages of SWEEP_LIMIT keys per prefix and sweep; the rest next hour


async def clean_expired(app: WorkerContext, now: datetime | None = None) -> int:
    """One sweep; returns how many objects were deleted."""
    now = now or app.clock()
    cutoff = now - timedelta(days=app.settings.message_retention_days)
    return await _clean_messages(app, cutoff) + await clean_inbound(app, cutoff)


async def _clean_messages(app: WorkerContext, cutoff: datetime) -> int:
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


async def clean_inbound(app: WorkerContext, cutoff: datetime) -> int:
    """Delete inbound objects received on a day before the cutoff's; returns how many."""
    before = cutoff.strftime("%Y-%m-%d")
    deleted = 0
    for prefix in INBOUND_PREFIXES:
        for _ in range(INBOUND_PAGES):
            keys = await app.storage.keys(prefix + "2", limit=SWEEP_LIMIT)
            old = [key for key in keys if key[len(prefix) : len(prefix) + 10] < before]
            for key in old:
                await app.storage.delete(key)
            deleted += len(old)
            if len(old) < SWEEP_LIMIT:  # reached the retained days (or the end)
                break
    return deleted
