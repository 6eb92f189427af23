"""The SQL inbound processing needs: finding the message a report is about, and the guarded
recipient update that makes a repeated DSN a no-op."""

from __future__ import annotations

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    EmailMessage,
    MessageEvent,
    MessageRecipient,
    RecipientStatus,
    utcnow,
)

# Recipients whose delivery is still good or still under way; a message with none left bounced.
OPEN_STATUSES = (RecipientStatus.DELIVERED, RecipientStatus.PENDING, RecipientStatus.DEFERRED)


async def recipient_by_id(session: AsyncSession, recipient_id: str) -> MessageRecipient | None:
    return await session.get(MessageRecipient, recipient_id)


async def message_id_for_header(session: AsyncSession, message_id_header: str) -> str | None:
    """Our id for a Message-ID header value, with or without its angle brackets."""
    bare = message_id_header.strip().strip("<>").strip()
    if not bare:
        return None
    statement = (
        select(EmailMessage.id)
        .where(col(EmailMessage.message_id_header).in_([f"<{bare}>", bare]))
        .order_by(col(EmailMessage.created_at).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def mark_recipient_bounced(
    session: AsyncSession, recipient_id: str, bounce_type: str, response: str | None
) -> bool:
    """True when this call moved the recipient to bounced (False: it already was)."""
    result = await session.exec(
        update(MessageRecipient)
        .where(col(MessageRecipient.id) == recipient_id)
        .where(col(MessageRecipient.status) != RecipientStatus.BOUNCED.value)
        .values(
            status=RecipientStatus.BOUNCED.value,
            bounce_type=bounce_type,
            smtp_response=response,
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def open_recipient_count(session: AsyncSession, message_id: str) -> int:
    statement = select(func.count()).where(
        col(MessageRecipient.message_id) == message_id,
        col(MessageRecipient.status).in_([s.value for s in OPEN_STATUSES]),
    )
    return int((await session.exec(statement)).one())


async def has_event(
    session: AsyncSession, message_id: str, recipient_email: str, event_type: str
) -> bool:
    statement = (
        select(MessageEvent.id)
        .where(
            col(MessageEvent.message_id) == message_id,
            col(MessageEvent.event_type) == event_type,
            col(MessageEvent.recipient_email) == recipient_email,
        )
        .limit(1)
    )
    return (await session.exec(statement)).first() is not None
