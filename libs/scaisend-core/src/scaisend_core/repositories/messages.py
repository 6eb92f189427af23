"""Message state: guarded transitions (a duplicate job can never move a message backwards) and
the loads the worker and SMTP service share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import EmailMessage, MessageRecipient, MessageStatus, utcnow


@dataclass(frozen=True, slots=True)
class LoadedMessage:
    message: EmailMessage
    recipients: list[MessageRecipient]


async def transition(
    session: AsyncSession,
    message_id: str,
    allowed_from: Iterable[MessageStatus],
    to: MessageStatus,
    **values: Any,
) -> bool:
    """UPDATE … WHERE status IN (allowed_from); True when this caller made the move."""
    result = await session.exec(
        update(EmailMessage)
        .where(col(EmailMessage.id) == message_id)
        .where(col(EmailMessage.status).in_([s.value for s in allowed_from]))
        .values(status=to.value, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def load_message(session: AsyncSession, message_id: str) -> LoadedMessage | None:
    """The message and its recipients in one round trip."""
    statement = (
        select(EmailMessage, MessageRecipient)
        .join(MessageRecipient, col(MessageRecipient.message_id) == col(EmailMessage.id))
        .where(col(EmailMessage.id) == message_id)
        .order_by(col(MessageRecipient.kind), col(MessageRecipient.id))
    )
    rows = (await session.exec(statement)).all()
    if not rows:
        return None
    return LoadedMessage(message=rows[0][0], recipients=[r for _, r in rows])


async def get_for_tenant(
    session: AsyncSession, tenant_id: str, message_id: str
) -> EmailMessage | None:
    statement = select(EmailMessage).where(
        col(EmailMessage.id) == message_id, col(EmailMessage.tenant_id) == tenant_id
    )
    return (await session.exec(statement)).first()
