"""Reads behind /v3/messages (filtered, paginated lists; one message with its recipients,
attachments and events) and the recipient reset a manual retry needs. Tenant-scoped throughout."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    EmailMessage,
    MessageAttachment,
    MessageEvent,
    MessageRecipient,
    RecipientKind,
    RecipientStatus,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    status: str | None = None
    to_email: str | None = None
    from_email: str | None = None
    subject: str | None = None
    batch_id: str | None = None
    template_id: str | None = None
    category: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(
    session: AsyncSession, tenant_id: str, f: MessageFilter
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(EmailMessage.tenant_id) == tenant_id]
    for column, value in (
        (EmailMessage.status, f.status),
        (EmailMessage.from_email, f.from_email),
        (EmailMessage.batch_id, f.batch_id),
        (EmailMessage.template_id, f.template_id),
    ):
        if value is not None:
            where.append(col(column) == value)
    if f.subject:
        where.append(col(EmailMessage.subject).like(f"%{_like_escape(f.subject)}%", escape="\\"))
    if f.created_from:
        where.append(col(EmailMessage.created_at) >= f.created_from)
    if f.created_before:
        where.append(col(EmailMessage.created_at) < f.created_before)
    if f.to_email:
        where.append(_has_recipient(tenant_id, f.to_email))
    if f.category:
        where.append(_has_category(session, f.category))
    return where


def _has_recipient(tenant_id: str, email: str) -> ColumnElement[bool]:
    return exists().where(
        col(MessageRecipient.message_id) == col(EmailMessage.id),
        col(MessageRecipient.tenant_id) == tenant_id,
        col(MessageRecipient.email) == email,
    )


def _has_category(session: AsyncSession, category: str) -> ColumnElement[bool]:
    """JSON array membership: JSON_CONTAINS on MySQL/MariaDB, json_each on SQLite."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "sqlite":
        each = func.json_each(EmailMessage.categories).table_valued("value")
        return exists().select_from(each).where(each.c.value == category)
    return func.json_contains(EmailMessage.categories, func.json_quote(category)) == 1


async def list_messages(
    session: AsyncSession, tenant_id: str, f: MessageFilter, *, limit: int, offset: int
) -> tuple[list[EmailMessage], int]:
    """A page of messages, newest first, and the total that match."""
    where = _conditions(session, tenant_id, f)
    total = (await session.exec(select(func.count()).select_from(EmailMessage).where(*where))).one()
    statement = (
        select(EmailMessage)
        .where(*where)
        .order_by(col(EmailMessage.created_at).desc(), col(EmailMessage.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.exec(statement)).all()), int(total)


async def to_emails(
    session: AsyncSession, tenant_id: str, message_ids: list[str]
) -> dict[str, list[str]]:
    """message id -> its `to` addresses, for a page of messages in one query."""
    if not message_ids:
        return {}
    statement = (
        select(MessageRecipient.message_id, MessageRecipient.email)
        .where(
            col(MessageRecipient.tenant_id) == tenant_id,
            col(MessageRecipient.message_id).in_(message_ids),
            col(MessageRecipient.kind) == RecipientKind.TO.value,
        )
        .order_by(col(MessageRecipient.id))
    )
    out: dict[str, list[str]] = defaultdict(list)
    for message_id, email in (await session.exec(statement)).all():
        out[message_id].append(email)
    return out


@dataclass(frozen=True, slots=True)
class MessageDetail:
    message: EmailMessage
    recipients: list[MessageRecipient]
    attachments: list[MessageAttachment]
    events: list[MessageEvent]


async def message_detail(
    session: AsyncSession, tenant_id: str, message_id: str
) -> MessageDetail | None:
    message = (
        await session.exec(
            select(EmailMessage).where(
                col(EmailMessage.tenant_id) == tenant_id, col(EmailMessage.id) == message_id
            )
        )
    ).first()
    if message is None:
        return None
    return MessageDetail(
        message,
        await _children(session, MessageRecipient, tenant_id, message_id, MessageRecipient.id),
        await _children(
            session, MessageAttachment, tenant_id, message_id, MessageAttachment.position
        ),
        await _children(
            session, MessageEvent, tenant_id, message_id, MessageEvent.occurred_at, MessageEvent.id
        ),
    )


async def _children(
    session: AsyncSession, model: Any, tenant_id: str, message_id: str, *order: Any
) -> list[Any]:
    statement = (
        select(model)
        .where(col(model.tenant_id) == tenant_id, col(model.message_id) == message_id)
        .order_by(*(col(o) for o in order))
    )
    return list((await session.exec(statement)).all())


async def reset_undelivered_recipients(session: AsyncSession, message_id: str) -> None:
    """Before a manual retry: recipients that did not get the message are pending again."""
    await session.exec(
        update(MessageRecipient)
        .where(
            col(MessageRecipient.message_id) == message_id,
            col(MessageRecipient.status).in_(
                [RecipientStatus.FAILED, RecipientStatus.BOUNCED, RecipientStatus.DEFERRED]
            ),
        )
        .values(status=RecipientStatus.PENDING.value, updated_at=utcnow())
    )
