"""The worker's own queries: tenant defaults, batches, recipients and attachments of a message
being processed; and the sweeps of the schedules, reconciler and retention crons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    EmailMessage,
    MailBatch,
    MessageAttachment,
    MessageRecipient,
    MessageStatus,
    RecipientStatus,
    Template,
    TemplateVersion,
    TenantSettings,
    utcnow,
)

PAUSE, CANCEL = "pause", "cancel"  # mail_batches.status, SendGrid's scheduled-send states
# Once these states are reached the body may be needed no more; retention never touches the rest.
FINISHED = (
    MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.BOUNCED, MessageStatus.FAILED,
    MessageStatus.CANCELLED, MessageStatus.SANDBOX,
)  # fmt: skip


_MESSAGES = EmailMessage.__table__  # type: ignore[attr-defined]


def _move(from_status: MessageStatus, to_status: MessageStatus, *columns: str) -> Any:
    """A guarded status move, built once: these run for every message, and building an ORM
    UPDATE (and syncing the session after it) costs more than running it."""
    return (
        update(_MESSAGES)
        .where(_MESSAGES.c.id == bindparam("b_id"))
        .where(_MESSAGES.c.status == from_status.value)
        .values(
            status=to_status.value,
            updated_at=bindparam("b_now"),
            **{name: bindparam(f"b_{name}") for name in columns},
        )
    )


_CLAIM = _move(MessageStatus.QUEUED, MessageStatus.PROCESSING)
_RENDERED = _move(
    MessageStatus.PROCESSING, MessageStatus.RENDERED,
    "mime_key", "mime_size", "processed_at", "template_version_id", "error_message",
)  # fmt: skip
_FAILED = _move(MessageStatus.PROCESSING, MessageStatus.FAILED, "error_message", "processed_at")


async def claim(session: AsyncSession, message_id: str) -> bool:
    """queued -> processing; False when another job got there first or it was cancelled."""
    return await _run_move(session, _CLAIM, message_id)


async def mark_rendered(session: AsyncSession, message_id: str, **values: Any) -> bool:
    """processing -> rendered with mime_key, mime_size, processed_at, template_version_id."""
    return await _run_move(session, _RENDERED, message_id, error_message=None, **values)


async def mark_failed(
    session: AsyncSession, message_id: str, error_message: str, processed_at: datetime
) -> bool:
    return await _run_move(
        session, _FAILED, message_id, error_message=error_message, processed_at=processed_at
    )


async def _run_move(session: AsyncSession, statement: Any, message_id: str, **values: Any) -> bool:
    params = {"b_id": message_id, "b_now": utcnow(), **{f"b_{k}": v for k, v in values.items()}}
    result = await session.exec(statement, params=params)
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class Loaded:
    message: EmailMessage
    recipients: list[MessageRecipient]
    tenant_settings: TenantSettings | None
    has_attachments: bool
    # The template version the message renders (pinned, else the template's active one) and
    # its updated_at: enough to find its source in the process cache without another query.
    version_id: str | None = None
    version_updated_at: datetime | None = None


def _version_columns() -> tuple[Any, Any]:
    """Correlated subqueries: the id and updated_at of the version a message renders, as
    templates.active_version(include_deleted=True) / version_by_id would find it."""
    active = (
        select(TemplateVersion.id)
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .where(
            col(TemplateVersion.template_id) == col(EmailMessage.template_id),
            col(TemplateVersion.tenant_id) == col(EmailMessage.tenant_id),
            col(TemplateVersion.active) == 1,
        )
        .limit(1)
        .scalar_subquery()
    )
    version_id = func.coalesce(col(EmailMessage.template_version_id), active)
    updated_at = (
        select(TemplateVersion.updated_at)
        .where(
            col(TemplateVersion.id) == version_id,
            col(TemplateVersion.tenant_id) == col(EmailMessage.tenant_id),
        )
        .scalar_subquery()
    )
    return version_id.label("version_id"), updated_at.label("version_updated_at")


def _load_statement() -> Any:
    has_attachments = (
        select(MessageAttachment.id)
        .where(col(MessageAttachment.message_id) == col(EmailMessage.id))
        .exists()
        .label("has_attachments")
    )
    return (
        sa_select(  # sqlmodel's select() types at most four columns
            EmailMessage, MessageRecipient, TenantSettings, has_attachments, *_version_columns()
        )
        .join(MessageRecipient, col(MessageRecipient.message_id) == col(EmailMessage.id))
        .outerjoin(TenantSettings, col(TenantSettings.tenant_id) == col(EmailMessage.tenant_id))
        .where(col(EmailMessage.id) == bindparam("message_id"))
        .order_by(col(MessageRecipient.kind), col(MessageRecipient.id))
    )


_LOAD = _load_statement()  # built once, like the status moves


async def load_for_processing(session: AsyncSession, message_id: str) -> Loaded | None:
    """The message, its recipients, its tenant's defaults, whether it has attachments and
    which template version it renders, in one round trip (the pipeline's first step; every
    later query is one the message needs)."""
    rows = (await session.exec(_LOAD, params={"message_id": message_id})).all()
    if not rows:
        return None
    message, _, defaults, attached, version_id, version_updated_at = rows[0]
    recipients = [row[1] for row in rows]
    return Loaded(message, recipients, defaults, bool(attached), version_id, version_updated_at)


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
