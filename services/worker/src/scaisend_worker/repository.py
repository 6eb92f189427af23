"""The worker's own queries: tenant defaults, batches, recipients and attachments of a message
being processed; and the sweeps of the schedules, reconciler and retention crons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    EmailMessage,
    MailBatch,
    MessageAttachment,
    MessageRecipient,
    MessageStatus,
    RecipientStatus,
    TenantSettings,
    utcnow,
)

PAUSE, CANCEL = "pause", "cancel"  # mail_batches.status, SendGrid's scheduled-send states
# Once these states are reached the body may be needed no more; retention never touches the rest.
FINISHED = (
    MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED, MessageStatus.FAILED,
    MessageStatus.CANCELLED, MessageStatus.SANDBOX,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Loaded:
    message: EmailMessage
    recipients: list[MessageRecipient]
    tenant_settings: TenantSettings | None
    has_attachments: bool


async def load_for_processing(session: AsyncSession, message_id: str) -> Loaded | None:
    """The message, its recipients, its tenant's defaults and whether it has attachments, in
    one round trip (the pipeline's first step; every later query is one the message needs)."""
    has_attachments = (
        select(MessageAttachment.id)
        .where(col(MessageAttachment.message_id) == col(EmailMessage.id))
        .exists()
        .label("has_attachments")
    )
    statement = (
        select(EmailMessage, MessageRecipient, TenantSettings, has_attachments)
        .join(MessageRecipient, col(MessageRecipient.message_id) == col(EmailMessage.id))
        .outerjoin(TenantSettings, col(TenantSettings.tenant_id) == col(EmailMessage.tenant_id))
        .where(col(EmailMessage.id) == message_id)
        .order_by(col(MessageRecipient.kind), col(MessageRecipient.id))
    )
    rows = (await session.exec(statement)).all()
    if not rows:
        return None
    message, _, defaults, attached = rows[0]
    return Loaded(message, [row[1] for row in rows], defaults, bool(attached))


async def batch_status(session: AsyncSession, tenant_id: str, batch_id: str) -> str | None:
    statement = select(MailBatch.status).where(
        col(MailBatch.id) == batch_id, col(MailBatch.tenant_id) == tenant_id
    )
    return (await session.exec(statement)).first()


async def attachments_of(session: AsyncSession, message_id: str) -> list[MessageAttachment]:
    statement = (
        select(MessageAttachment)
        .where(col(MessageAttachment.message_id) == message_id)
        .order_by(col(MessageAttachment.position))
    )
    return list((await session.exec(statement)).all())


async def mark_recipients(
    session: AsyncSession, recipient_ids: Sequence[str], status: RecipientStatus
) -> None:
    if recipient_ids:
        await session.exec(
            update(MessageRecipient)
            .where(col(MessageRecipient.id).in_(list(recipient_ids)))
            .values(status=status.value, updated_at=utcnow())
        )


def _open_batches() -> ColumnElement[bool]:
    """Messages with no batch, or whose batch is neither paused nor cancelled."""
    held = select(MailBatch.id).where(
        col(MailBatch.tenant_id) == col(EmailMessage.tenant_id),
        col(MailBatch.status).in_([PAUSE, CANCEL]),
    )
    return or_(col(EmailMessage.batch_id).is_(None), col(EmailMessage.batch_id).not_in(held))


async def due_scheduled(
    session: AsyncSession, until: datetime, limit: int
) -> list[tuple[str, datetime]]:
    """Queued scheduled sends due by `until` whose batch does not hold them."""
    statement = (
        select(EmailMessage.id, EmailMessage.send_at)
        .where(
            col(EmailMessage.status) == MessageStatus.QUEUED.value,
            col(EmailMessage.send_at).is_not(None),
            col(EmailMessage.send_at) <= until,
            _open_batches(),
        )
        .order_by(col(EmailMessage.send_at))
        .limit(limit)
    )
    return [(i, at) for i, at in (await session.exec(statement)).all() if at is not None]


async def held_due(
    session: AsyncSession, batch_state: str, due_before: datetime, limit: int
) -> list[str]:
    """Queued messages of paused/cancelled batches whose send_at is before `due_before`."""
    statement = (
        select(EmailMessage.id)
        .join(
            MailBatch,
            (col(MailBatch.id) == col(EmailMessage.batch_id))
            & (col(MailBatch.tenant_id) == col(EmailMessage.tenant_id)),
        )
        .where(
            col(EmailMessage.status) == MessageStatus.QUEUED.value,
            col(MailBatch.status) == batch_state,
            or_(col(EmailMessage.send_at).is_(None), col(EmailMessage.send_at) <= due_before),
        )
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def discard(session: AsyncSession, message_ids: Iterable[str], reason: str) -> int:
    """queued -> cancelled, guarded: a message another worker already took is left alone."""
    ids = list(message_ids)
    if not ids:
        return 0
    result = await session.exec(
        update(EmailMessage)
        .where(
            col(EmailMessage.id).in_(ids),
            col(EmailMessage.status) == MessageStatus.QUEUED.value,
        )
        .values(status=MessageStatus.CANCELLED.value, error_message=reason, updated_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def stale(
    session: AsyncSession, status: MessageStatus, cutoff: datetime, limit: int
) -> list[tuple[str, int]]:
    """(id, attempts) of messages in `status` untouched since `cutoff` (queued ones only when
    due and not held by their batch)."""
    statement = select(EmailMessage.id, EmailMessage.attempts).where(
        col(EmailMessage.status) == status.value, col(EmailMessage.updated_at) < cutoff
    )
    if status == MessageStatus.QUEUED:
        statement = statement.where(
            or_(col(EmailMessage.send_at).is_(None), col(EmailMessage.send_at) < cutoff),
            _open_batches(),
        )
    statement = statement.order_by(col(EmailMessage.updated_at)).limit(limit)
    return [(i, a) for i, a in (await session.exec(statement)).all()]


async def stale_sending(
    session: AsyncSession, cutoff: datetime, due_by: datetime, limit: int
) -> list[tuple[str, int, datetime | None]]:
    """(id, attempts, next_attempt_at) of `sending` messages untouched since `cutoff` whose next
    attempt is due by `due_by` (or unknown): the retry job that should exist for each. Messages
    waiting hours for a retry are not swept every minute, only as their time comes."""
    statement = (
        select(EmailMessage.id, EmailMessage.attempts, EmailMessage.next_attempt_at)
        .where(
            col(EmailMessage.status) == MessageStatus.SENDING.value,
            col(EmailMessage.updated_at) < cutoff,
            or_(
                col(EmailMessage.next_attempt_at).is_(None),
                col(EmailMessage.next_attempt_at) <= due_by,
            ),
        )
        .order_by(col(EmailMessage.next_attempt_at))
        .limit(limit)
    )
    return [(i, a, at) for i, a, at in (await session.exec(statement)).all()]


async def requeue_processing(session: AsyncSession, message_ids: Sequence[str]) -> None:
    """A worker died after committing `processing`: hand the message back to the queue."""
    if message_ids:
        await session.exec(
            update(EmailMessage)
            .where(
                col(EmailMessage.id).in_(list(message_ids)),
                col(EmailMessage.status) == MessageStatus.PROCESSING.value,
            )
            .values(status=MessageStatus.QUEUED.value, updated_at=utcnow())
        )


async def expired_bodies(
    session: AsyncSession, cutoff: datetime, limit: int
) -> list[tuple[str, str | None]]:
    """(id, mime_key) of finished messages created before `cutoff` that still hold a body or
    attachments."""
    has_attachments = select(MessageAttachment.id).where(
        col(MessageAttachment.message_id) == col(EmailMessage.id)
    )
    statement = (
        select(EmailMessage.id, EmailMessage.mime_key)
        .where(
            col(EmailMessage.created_at) < cutoff,
            col(EmailMessage.status).in_([s.value for s in FINISHED]),
            or_(col(EmailMessage.mime_key).is_not(None), has_attachments.exists()),
        )
        .order_by(col(EmailMessage.created_at))
        .limit(limit)
    )
    return [(i, k) for i, k in (await session.exec(statement)).all()]


async def take_attachments(session: AsyncSession, message_ids: Sequence[str]) -> set[str]:
    """Delete the messages' attachment rows; returns the storage keys they referenced."""
    statement = select(MessageAttachment.storage_key).where(
        col(MessageAttachment.message_id).in_(list(message_ids))
    )
    keys = set((await session.exec(statement)).all())
    await session.exec(
        delete(MessageAttachment).where(col(MessageAttachment.message_id).in_(list(message_ids)))
    )
    return keys


async def still_referenced(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Attachment objects are content-addressed per tenant: another message may share one."""
    wanted = list(keys)
    if not wanted:
        return set()
    statement = select(MessageAttachment.storage_key).where(
        col(MessageAttachment.storage_key).in_(wanted)
    )
    return set((await session.exec(statement)).all())


async def forget_bodies(session: AsyncSession, message_ids: Sequence[str]) -> None:
    if message_ids:
        await session.exec(
            update(EmailMessage)
            .where(col(EmailMessage.id).in_(list(message_ids)))
            .values(mime_key=None)
        )
