"""The worker's own queries: tenant defaults, batches, recipients and attachments of a message
being processed; and the sweeps of the schedules, reconciler and retention crons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, case, delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
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


_RENDERED = _move(
    MessageStatus.PROCESSING, MessageStatus.RENDERED,
    "mime_key", "mime_size", "processed_at", "template_version_id", "error_message",
)  # fmt: skip
_FAILED = _move(MessageStatus.PROCESSING, MessageStatus.FAILED, "error_message", "processed_at")
_CLAIM_MANY = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id.in_(bindparam("b_ids", expanding=True)))
    .where(_MESSAGES.c.status == MessageStatus.QUEUED.value)
    .values(status=MessageStatus.PROCESSING.value, updated_at=bindparam("b_now"))
)
_RECIPIENTS = MessageRecipient.__table__  # type: ignore[attr-defined]
_MARK_RECIPIENTS = (
    update(_RECIPIENTS)
    .where(_RECIPIENTS.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)


async def claim_many(conn: AsyncConnection, message_ids: Sequence[str]) -> int:
    """queued -> processing for several messages in one UPDATE; how many moved (the caller
    compares with how many it asked for: the rows moved are locked until it commits)."""
    if not message_ids:
        return 0
    result = await conn.execute(_CLAIM_MANY, {"b_ids": list(message_ids), "b_now": utcnow()})
    return int(result.rowcount)


_RENDERED_COLUMNS = ("mime_key", "mime_size", "template_version_id")
_rendered_by_size: dict[int, Any] = {}


def _rendered_many(size: int) -> Any:
    """processing -> rendered for `size` messages in one UPDATE: a CASE on the id for each
    per-message column. Built once per size (sizes are powers of two, the last row repeated),
    so a group pays one round trip, not one per message."""
    statement = _rendered_by_size.get(size)
    if statement is None:
        ids: list[BindParameter[Any]] = [bindparam(f"id{i}") for i in range(size)]
        per_message = {
            name: case(*((_MESSAGES.c.id == ids[i], bindparam(f"{name}{i}")) for i in range(size)))
            for name in _RENDERED_COLUMNS
        }
        statement = _rendered_by_size[size] = (
            update(_MESSAGES)
            .where(_MESSAGES.c.id.in_(ids))
            .where(_MESSAGES.c.status == MessageStatus.PROCESSING.value)
            .values(
                status=MessageStatus.RENDERED.value,
                updated_at=bindparam("b_now"),
                processed_at=bindparam("b_processed_at"),
                error_message=None,
                **per_message,
            )
        )
    return statement


async def mark_rendered_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """processing -> rendered for several messages processed at the same time: each row has
    message_id, mime_key, mime_size, processed_at and template_version_id."""
    if not rows:
        return
    if len({row["processed_at"] for row in rows}) > 1:  # not one group's: one move each
        await _run_moves(conn, _RENDERED, [{**row, "error_message": None} for row in rows])
        return
    size = 1 << (len(rows) - 1).bit_length()
    padded = [*rows, *[rows[-1]] * (size - len(rows))]
    params: dict[str, Any] = {"b_now": utcnow(), "b_processed_at": rows[0]["processed_at"]}
    for i, row in enumerate(padded):
        params[f"id{i}"] = row["message_id"]
        params.update((f"{name}{i}", row[name]) for name in _RENDERED_COLUMNS)
    await conn.execute(_rendered_many(size), params)


async def mark_failed_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """processing -> failed for several messages: each row has message_id, error_message and
    processed_at."""
    await _run_moves(conn, _FAILED, rows)


async def _run_moves(conn: AsyncConnection, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    now = utcnow()
    params = [
        {"b_id": row["message_id"], "b_now": now,
         **{f"b_{k}": v for k, v in row.items() if k != "message_id"}}
        for row in rows
    ]  # fmt: skip
    await conn.execute(statement, params)


async def mark_recipients(
    conn: AsyncConnection, recipient_ids: Sequence[str], status: RecipientStatus
) -> None:
    """Recipients to `status`, through a statement built once."""
    if recipient_ids:
        params = {"b_ids": list(recipient_ids), "b_status": status.value, "b_now": utcnow()}
        await conn.execute(_MARK_RECIPIENTS, params)


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
    )


_LOAD_MANY = (
    _load_statement()
    .where(col(EmailMessage.id).in_(bindparam("message_ids", expanding=True)))
    .order_by(col(EmailMessage.id), col(MessageRecipient.kind), col(MessageRecipient.id))
)


async def load_many(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, Loaded]:
    """The messages, their recipients, their tenants' defaults, whether they have attachments
    and which template version each renders, in one round trip (the pipeline's first step);
    absent ids are left out."""
    rows = (await session.exec(_LOAD_MANY, params={"message_ids": list(message_ids)})).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0].id, []).append(row)
    found = {}
    for message_id, group in grouped.items():
        message, _, defaults, attached, version_id, version_updated_at = group[0]
        recipients = [row[1] for row in group]
        found[message_id] = Loaded(
            message, recipients, defaults, bool(attached), version_id, version_updated_at
        )
    return found


async def attachments_of_many(
    session: AsyncSession, message_ids: Sequence[str]
) -> dict[str, list[MessageAttachment]]:
    """The attachment rows of several messages, in position order, in one query."""
    if not message_ids:
        return {}
    statement = (
        select(MessageAttachment)
        .where(col(MessageAttachment.message_id).in_(list(message_ids)))
        .order_by(col(MessageAttachment.message_id), col(MessageAttachment.position))
    )
    found: dict[str, list[MessageAttachment]] = {}
    for attachment in (await session.exec(statement)).all():
        found.setdefault(attachment.message_id, []).append(attachment)
    return found


async def batch_status(session: AsyncSession, tenant_id: str, batch_id: str) -> str | None:
    statement = select(MailBatch.status).where(
        col(MailBatch.id) == batch_id, col(MailBatch.tenant_id) == tenant_id
    )
    return (await session.exec(statement)).first()


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
