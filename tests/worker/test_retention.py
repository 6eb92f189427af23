"""Retention deletes stored bodies and attachments of finished messages older than
MESSAGE_RETENTION_DAYS, keeps attachment objects other messages still share, and leaves young or
unfinished messages alone; inbound reports (and their pending/unmatched marks) received before the
cutoff day are deleted too."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, MessageAttachment, MessageStatus, Tenant
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import process_message
from scaisend_worker.retention import clean_expired
from tests.fixtures.messages import Attachment, Made, MessageFactory
from tests.worker.support import message_row


async def rendered(
    worker: WorkerContext, factory: MessageFactory, tenant: Tenant, age_days: int, **kw: object
) -> Made:
    created = worker.clock() - timedelta(days=age_days)
    made = await factory(tenant, created_at=created, **kw)
    await process_message(worker, made.id)
    return made


async def attachment_rows(sessions: SessionFactory, message_id: str) -> list[MessageAttachment]:
    async with sessions() as session:
        statement = select(MessageAttachment).where(col(MessageAttachment.message_id) == message_id)
        return list((await session.exec(statement)).all())


async def test_old_bodies_and_attachments_are_deleted(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
) -> None:
    old = await rendered(worker, message_factory, tenant, 31, attachments=[Attachment(b"old")])
    async with sessions() as session:  # delivery finished long ago
        row = await session.get(EmailMessage, old.id)
        assert row is not None
        row.status = MessageStatus.DELIVERED
        await session.commit()
    mime_key = (await message_row(sessions, old.id)).mime_key
    assert mime_key is not None

    deleted = await clean_expired(worker)

    assert deleted == 2
    assert not await worker.storage.exists(mime_key)
    assert not await worker.storage.exists(old.attachments[0].storage_key)
    assert (await message_row(sessions, old.id)).mime_key is None
    assert await attachment_rows(sessions, old.id) == []


async def test_young_and_unfinished_messages_keep_their_bodies(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    young = await rendered(worker, message_factory, tenant, 29)
    old_but_rendered = await rendered(worker, message_factory, tenant, 40)  # not delivered yet

    assert await clean_expired(worker) == 0
    for made in (young, old_but_rendered):
        key = (await message_row(sessions, made.id)).mime_key
        assert key is not None
        assert await worker.storage.exists(key)


async def test_an_attachment_shared_with_a_younger_message_is_kept(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    shared = Attachment(b"same bytes", "terms.pdf", "application/pdf")
    old = await message_factory(
        tenant, created_at=worker.clock() - timedelta(days=60), attachments=[shared],
        status=MessageStatus.FAILED.value,
    )  # fmt: skip
    young = await message_factory(tenant, attachments=[shared])

    await clean_expired(worker)

    assert await attachment_rows(sessions, old.id) == []
    assert len(await attachment_rows(sessions, young.id)) == 1
    assert await worker.storage.exists(young.attachments[0].storage_key)


async def test_inbound_reports_older_than_retention_are_deleted_with_their_marks(
    worker: WorkerContext,
) -> None:
    days = worker.settings.message_retention_days
    old = (worker.clock() - timedelta(days=days + 2)).strftime("%Y-%m-%d")
    recent = (worker.clock() - timedelta(days=days - 2)).strftime("%Y-%m-%d")
    keys = {
        day: [
            f"inbound/{day}/inb_1.eml",
            f"inbound/{day}/inb_1.envelope.json",
            f"inbound/pending/{day}/inb_1",
            f"inbound/unmatched/{day}/inb_1.json",
        ]
        for day in (old, recent)
    }
    for key in keys[old] + keys[recent]:
        await worker.storage.put(key, b"x")

    deleted = await clean_expired(worker)

    assert deleted == 4
    assert [await worker.storage.exists(k) for k in keys[old]] == [False] * 4
    assert [await worker.storage.exists(k) for k in keys[recent]] == [True] * 4
