"""The SQL of delivery that no other service runs: claiming an attempt and writing the
recipients' outcomes. Message status moves go through core's guarded `transition()`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import EmailMessage, MessageRecipient, MessageStatus

CLAIMABLE = (MessageStatus.RENDERED, MessageStatus.SENDING)


async def claim(session: AsyncSession, message_id: str, attempt: int, now: datetime) -> bool:
    """Attempt `attempt` (0-based) starts: status `sending`, attempts = attempt + 1.

    Guarded on the attempt count as well as the status, so a duplicate or stale job (the
    reconciler re-enqueued it, an operator retried it) finds nothing to claim and stops."""
    result = await session.exec(
        update(EmailMessage)
        .where(col(EmailMessage.id) == message_id)
        .where(col(EmailMessage.attempts) == attempt)
        .where(col(EmailMessage.status).in_([s.value for s in CLAIMABLE]))
        .values(status=MessageStatus.SENDING.value, attempts=attempt + 1, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RecipientChange:
    id: str
    status: str
    smtp_response: str | None
    bounce_type: str | None
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime


async def update_recipients(session: AsyncSession, changes: list[RecipientChange]) -> None:
    """One executemany UPDATE by primary key for the whole attempt."""
    if changes:
        await session.exec(update(MessageRecipient), params=[asdict(c) for c in changes])
