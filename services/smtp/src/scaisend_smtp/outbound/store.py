"""The SQL of delivery that no other service runs: claiming an attempt and writing the
recipients' and messages' outcomes. Every message move is guarded like core's `transition()`
(only from `sending`), but prebuilt and run once for a whole batch: the ORM update behind
`transition()` cost more CPU than everything else an outcome writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.orm import load_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import EmailMessage, MessageRecipient, MessageStatus

CLAIMABLE = (MessageStatus.RENDERED, MessageStatus.SENDING)
_DELIVERY_COLUMNS = ("id", "tenant_id", "status", "attempts", "from_email", "mime_key",
                     "mail_settings", "processed_at", "created_at", "next_attempt_at")  # fmt: skip


async def load_messages(
    session: AsyncSession, message_ids: list[str]
) -> dict[str, tuple[EmailMessage, list[MessageRecipient]]]:
    """Messages with their recipients, two queries for any number of messages. Only the
    columns delivery reads are loaded: the content and template columns are large JSON."""
    messages = await session.exec(
        select(EmailMessage)
        .options(load_only(*(getattr(EmailMessage, name) for name in _DELIVERY_COLUMNS)))
        .where(col(EmailMessage.id).in_(message_ids))
    )
    loaded: dict[str, tuple[EmailMessage, list[MessageRecipient]]] = {
        m.id: (m, []) for m in messages.all()
    }
    recipients = await session.exec(
        select(MessageRecipient)
        .where(col(MessageRecipient.message_id).in_(list(loaded)))
        .order_by(col(MessageRecipient.kind), col(MessageRecipient.id))
    )
    for recipient in recipients.all():
        loaded[recipient.message_id][1].append(recipient)
    return loaded


_MESSAGES = EmailMessage.__table__  # type: ignore[attr-defined]
_RECIPIENTS = MessageRecipient.__table__  # type: ignore[attr-defined]

# Built once: these run for every message, and building a statement costs more than running it.
_CLAIM = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .where(_MESSAGES.c.attempts == bindparam("attempt"))
    # OR of equalities, not IN: an expanding IN list cannot run as an executemany.
    .where(or_(*(_MESSAGES.c.status == s.value for s in CLAIMABLE)))
    .values(
        status=MessageStatus.SENDING.value,
        attempts=bindparam("next_attempt"),
        updated_at=bindparam("now"),
    )
)
_FIELDS = ("status", "smtp_response", "bounce_type", "attempts", "next_attempt_at",
           "delivered_at", "updated_at")  # fmt: skip
_UPDATE_RECIPIENT = (
    update(_RECIPIENTS)
    .where(_RECIPIENTS.c.id == bindparam("recipient_id"))
    .values({name: bindparam(f"new_{name}") for name in _FIELDS})
)


async def claim(session: AsyncSession, attempts: list[tuple[str, int]], now: datetime) -> int:
    """Attempts (message id, 0-based attempt) start: status `sending`, attempts = attempt + 1,
    in one executemany; returns how many rows moved. Each UPDATE matches at most its one row,
    so a total equal to len(attempts) means every claim was won.

    Guarded on the attempt count as well as the status, so a duplicate or stale job (the
    reconciler re-enqueued it, an operator retried it) finds nothing to claim and stops."""
    if not attempts:
        return 0
    params = [{"message_id": message_id, "attempt": attempt, "next_attempt": attempt + 1,
               "now": now} for message_id, attempt in attempts]  # fmt: skip
    result = await session.exec(_CLAIM, params=params)
    return int(result.rowcount)  # type: ignore[attr-defined]


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
    """One executemany UPDATE by primary key for all the changes."""
    if changes:
        params = [
            {"recipient_id": c.id, **{f"new_{name}": getattr(c, name) for name in _FIELDS}}
            for c in changes
        ]
        await session.exec(_UPDATE_RECIPIENT, params=params)


@dataclass(frozen=True, slots=True)
class MessageMove:
    """A message leaving an attempt: back to `sending` until `next_attempt_at`, or to its end
    state. Stamps left None keep what the row has."""

    id: str
    status: MessageStatus
    now: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    error: str | None = None


def _keep_unless_given(name: str) -> object:
    column = _MESSAGES.c[name]
    return func.coalesce(bindparam(f"new_{name}", type_=column.type), column)


_MOVE_MESSAGE = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .where(_MESSAGES.c.status == MessageStatus.SENDING.value)  # a duplicate job moves nothing
    .values(
        status=bindparam("new_status"),
        updated_at=bindparam("new_updated_at"),
        next_attempt_at=bindparam("new_next_attempt_at"),
        sent_at=_keep_unless_given("sent_at"),
        delivered_at=_keep_unless_given("delivered_at"),
        error_message=_keep_unless_given("error_message"),
    )
)


async def move_messages(session: AsyncSession, moves: list[MessageMove]) -> None:
    """One executemany UPDATE for all the moves, each guarded on `status = 'sending'`."""
    if moves:
        params = [
            {
                "message_id": m.id, "new_status": m.status.value, "new_updated_at": m.now,
                "new_next_attempt_at": m.next_attempt_at, "new_sent_at": m.sent_at,
                "new_delivered_at": m.delivered_at, "new_error_message": m.error,
            }
            for m in moves
        ]  # fmt: skip
        await session.exec(_MOVE_MESSAGE, params=params)
