"""The SQL of delivery that no other service runs: claiming an attempt and writing the
recipients' and messages' outcomes. Every message move is guarded like core's `transition()`
(only from `sending`), but prebuilt and run once for a whole batch: the ORM update behind
`transition()` cost more CPU than everything else an outcome writes, and an executemany of
UPDATEs is a round trip per row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Case, Table, Update, and_, bindparam, case, func, or_, update
from sqlalchemy.orm import load_only
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core import compiled_sql
from scaisend_core.models import EmailMessage, MessageRecipient, MessageStatus

CLAIMABLE = (MessageStatus.RENDERED, MessageStatus.SENDING)
T = TypeVar("T")
_DELIVERY_COLUMNS = ("id", "tenant_id", "status", "attempts", "from_email", "mime_key",
                     "mail_settings", "processed_at", "created_at", "next_attempt_at")  # fmt: skip


# Built once: constructing a select with load_only cost a third of loading a batch.
_LOAD_MESSAGES = (
    select(EmailMessage)
    .options(load_only(*(getattr(EmailMessage, name) for name in _DELIVERY_COLUMNS)))
    .where(col(EmailMessage.id).in_(bindparam("ids", expanding=True)))
)
_LOAD_RECIPIENTS = (
    select(MessageRecipient)
    .where(col(MessageRecipient.message_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(MessageRecipient.kind), col(MessageRecipient.id))
)


async def load_messages(
    session: AsyncSession, message_ids: list[str]
) -> dict[str, tuple[EmailMessage, list[MessageRecipient]]]:
    """Messages with their recipients, two queries for any number of messages. Only the
    columns delivery reads are loaded: the content and template columns are large JSON."""
    messages = await session.exec(_LOAD_MESSAGES, params={"ids": message_ids})
    loaded: dict[str, tuple[EmailMessage, list[MessageRecipient]]] = {
        m.id: (m, []) for m in messages.all()
    }
    recipients = await session.exec(_LOAD_RECIPIENTS, params={"ids": list(loaded)})
    for recipient in recipients.all():
        loaded[recipient.message_id][1].append(recipient)
    return loaded


_MESSAGES = EmailMessage.__table__  # type: ignore[attr-defined]
_RECIPIENTS = MessageRecipient.__table__  # type: ignore[attr-defined]
# Rows per statement: a batch of rows is one UPDATE (the driver runs an executemany of UPDATEs
# as one statement and one round trip per row). 128 rows x 8 placeholders stays far below
# MySQL's 65,535.
ROWS_PER_STATEMENT = 128


def _chunks(rows: list[T]) -> Iterator[tuple[int, list[T]]]:
    """The rows in statement-sized chunks, each padded to a power of two by repeating its last
    row (harmless: the same row gets the same values), with the padded size: statements are
    built once per size, since building one costs far more than running it."""
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        size = 1 << (len(chunk) - 1).bit_length()
        yield size, chunk + [chunk[-1]] * (size - len(chunk))


def _per_row(table: Table, column: str, size: int, field: str | None = None) -> Case[Any]:
    """CASE WHEN id = :r<i>_id THEN :r<i>_<field> ... ELSE <column> END, typed as the column."""
    target = table.c[column]
    whens = [
        (table.c.id == bindparam(f"r{i}_id", type_=table.c.id.type),
         bindparam(f"r{i}_{field or column}", type_=target.type))
        for i in range(size)
    ]  # fmt: skip
    return case(*whens, else_=target)


def _ids(table: Table, size: int) -> list[BindParameter[Any]]:
    return [bindparam(f"r{i}_id", type_=table.c.id.type) for i in range(size)]


@lru_cache(maxsize=16)
def _claim(size: int) -> Update:
    """Claim `size` attempts: each row only at its own attempt count, and only from a claimable
    status; attempts + 1 is the next attempt's number on exactly those rows."""
    ids = _ids(_MESSAGES, size)
    at_attempt = [
        and_(_MESSAGES.c.id == ids[i], _MESSAGES.c.attempts == bindparam(f"r{i}_attempt"))
        for i in range(size)
    ]
    return (
        update(_MESSAGES)
        .where(_MESSAGES.c.id.in_(ids))
        .where(or_(*at_attempt))
        .where(or_(*(_MESSAGES.c.status == s.value for s in CLAIMABLE)))
        .values(
            status=MessageStatus.SENDING.value,
            attempts=_MESSAGES.c.attempts + 1,
            updated_at=bindparam("now", type_=_MESSAGES.c.updated_at.type),
        )
    )


async def claim(session: AsyncSession, attempts: list[tuple[str, int]], now: datetime) -> int:
    """Attempts (message id, 0-based attempt) start: status `sending`, attempts = attempt + 1,
    in one UPDATE; returns how many rows moved. Each row moves at most once, so a total equal
    to len(attempts) means every claim was won.

    Guarded on the attempt count as well as the status, so a duplicate or stale job (the
    reconciler re-enqueued it, an operator retried it) finds nothing to claim and stops."""
    won = 0
    for size, chunk in _chunks(attempts):
        params: dict[str, Any] = {"now": now}
        for i, (message_id, attempt) in enumerate(chunk):
            params[f"r{i}_id"], params[f"r{i}_attempt"] = message_id, attempt
        won += await compiled_sql.execute(session, _claim, size, params)
    return won


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


_FIELDS = ("status", "smtp_response", "bounce_type", "attempts", "next_attempt_at",
           "delivered_at", "updated_at")  # fmt: skip


@lru_cache(maxsize=16)
def _update_recipients(size: int) -> Update:
    ids = _ids(_RECIPIENTS, size)
    values = {name: _per_row(_RECIPIENTS, name, size) for name in _FIELDS}
    return update(_RECIPIENTS).where(_RECIPIENTS.c.id.in_(ids)).values(**values)


async def update_recipients(session: AsyncSession, changes: list[RecipientChange]) -> None:
    """All the changes by primary key, one UPDATE per ROWS_PER_STATEMENT rows."""
    for size, chunk in _chunks(changes):
        params = {f"r{i}_{name}": getattr(c, name) for i, c in enumerate(chunk)
                  for name in ("id", *_FIELDS)}  # fmt: skip
        await compiled_sql.execute(session, _update_recipients, size, params)


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


# column -> MessageMove field; the stamps keep the row's value unless the move gives one
_MOVED = {"status": "status", "updated_at": "now", "next_attempt_at": "next_attempt_at"}
_STAMPS = {"sent_at": "sent_at", "delivered_at": "delivered_at", "error_message": "error"}


@lru_cache(maxsize=16)
def _move_messages(size: int) -> Update:
    values: dict[str, Any] = {
        column: _per_row(_MESSAGES, column, size, field) for column, field in _MOVED.items()
    }
    for column, field in _STAMPS.items():
        values[column] = func.coalesce(_per_row(_MESSAGES, column, size, field),
                                       _MESSAGES.c[column])  # fmt: skip
    return (
        update(_MESSAGES)
        .where(_MESSAGES.c.id.in_(_ids(_MESSAGES, size)))
        .where(_MESSAGES.c.status == MessageStatus.SENDING.value)  # a duplicate job moves nothing
        .values(**values)
    )


async def move_messages(session: AsyncSession, moves: list[MessageMove]) -> None:
    """All the moves, one UPDATE per ROWS_PER_STATEMENT rows, each row guarded on
    `status = 'sending'`."""
    fields = ("id", *_MOVED.values(), *_STAMPS.values())
    for size, chunk in _chunks(moves):
        params = {f"r{i}_{name}": getattr(m, name) for i, m in enumerate(chunk) for name in fields}
        for i, m in enumerate(chunk):
            params[f"r{i}_status"] = m.status.value
        await compiled_sql.execute(session, _move_messages, size, params)
