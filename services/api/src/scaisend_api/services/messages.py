"""Messages: list with filters, read one with its timeline, and the manual actions.

Allowed states (docs: reference/messages; `fail` is ours to define):
- cancel: queued, processing -> cancelled (a scheduled message never goes out);
- retry: processing, sending, failed, bounced -> queued, re-enqueued with attempt + 1 (so the
  job id is new), undelivered recipients pending again;
- fail: queued, processing, rendered, sending -> failed with an error message: for messages stuck
  before delivery finished; never for sent/delivered/bounced or already final ones."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.auth import Principal
from scaisend_api.deps import UnitOfWork
from scaisend_api.schemas.messages import (
    AsmOut,
    AttachmentOut,
    MessageAction,
    MessageDetail,
    MessageList,
    MessageSummary,
    RecipientOut,
)
from scaisend_core.errors import InvalidState, NotFound, ValidationFailed
from scaisend_core.events import EventEnvelope, EventType
from scaisend_core.models import EmailMessage, MessageEvent, MessageStatus
from scaisend_core.queue import ProcessMessage
from scaisend_core.repositories import message_queries as queries
from scaisend_core.repositories.messages import get_for_tenant, transition

S = MessageStatus
CANCELLABLE = (S.QUEUED, S.PROCESSING)
RETRYABLE = (S.PROCESSING, S.SENDING, S.FAILED, S.BOUNCED)
FAILABLE = (S.QUEUED, S.PROCESSING, S.RENDERED, S.SENDING)
STATUSES = tuple(s.value for s in MessageStatus)


def parse_bound(value: str | None, name: str, *, end: bool) -> datetime | None:
    """ISO-8601 or YYYY-MM-DD; a bare end date includes that whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed.single(f"{name} must be ISO-8601 or YYYY-MM-DD") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment + timedelta(microseconds=1) if end else moment


def build_filter(
    status: str | None, start_date: str | None, end_date: str | None, **exact: str | None
) -> queries.MessageFilter:
    if status is not None and status not in STATUSES:
        raise ValidationFailed.single(f"status must be one of: {', '.join(STATUSES)}")
    return queries.MessageFilter(
        status=status,
        created_from=parse_bound(start_date, "start_date", end=False),
        created_before=parse_bound(end_date, "end_date", end=True),
        **exact,
    )


async def list_messages(
    session: AsyncSession, tenant_id: str, f: queries.MessageFilter, page: int, page_size: int
) -> MessageList:
    rows, total = await queries.list_messages(
        session, tenant_id, f, limit=page_size, offset=(page - 1) * page_size
    )
    to = await queries.to_emails(session, tenant_id, [r.id for r in rows])
    return MessageList(
        messages=[_summary(row, to.get(row.id, [])) for row in rows],
        total=total,
        page=page,
        page_size=page_size,
        total_pages=math.ceil(total / page_size),
    )


def _summary(row: EmailMessage, to_emails: list[str]) -> MessageSummary:
    return MessageSummary(
        id=row.id, status=row.status, from_email=row.from_email, from_name=row.from_name,
        subject=row.subject, to_emails=to_emails, template_id=row.template_id,
        batch_id=row.batch_id, categories=row.categories, created_at=row.created_at,
        delivered_at=row.delivered_at,
    )  # fmt: skip


async def get_message(session: AsyncSession, tenant_id: str, message_id: str) -> MessageDetail:
    found = await queries.message_detail(session, tenant_id, message_id)
    if found is None:
        raise NotFound(f"Message not found: {message_id}")
    m = found.message
    asm = None
    if m.asm_group_id is not None:
        asm = AsmOut(group_id=m.asm_group_id, groups_to_display=m.asm_groups_to_display)
    return MessageDetail.model_validate(
        {
            **m.model_dump(),
            "asm": asm,
            "recipients": [RecipientOut.model_validate(r.model_dump()) for r in found.recipients],
            "attachments": [
                AttachmentOut(type=a.content_type, **a.model_dump(exclude={"content_type"}))
                for a in found.attachments
            ],
            "events": [envelope(e) for e in found.events],
        }
    )


def envelope(event: MessageEvent) -> EventEnvelope:
    """DESIGN.md §5: the same envelope a ScaiSend webhook endpoint receives."""
    return EventEnvelope(
        event_id=event.id,
        event_type=EventType(event.event_type),
        timestamp=int(event.occurred_at.timestamp()),
        message_id=event.message_id,
        recipient_email=event.recipient_email,
        tenant_id=event.tenant_id,
        metadata=event.details,
    )


async def _owned(session: AsyncSession, principal: Principal, message_id: str) -> EmailMessage:
    message = await get_for_tenant(session, principal.tenant_id, message_id)
    if message is None:
        raise NotFound(f"Message not found: {message_id}")
    return message


def _refuse(action: str, message: EmailMessage, allowed: tuple[MessageStatus, ...]) -> InvalidState:
    names = ", ".join(s.value for s in allowed)
    return InvalidState(
        f"Message {message.id} cannot be {action}: its status is {message.status} "
        f"(allowed: {names})",
        current=message.status,
    )


async def cancel(uow: UnitOfWork, principal: Principal, message_id: str) -> MessageAction:
    message = await _owned(uow.session, principal, message_id)
    if not await transition(uow.session, message.id, CANCELLABLE, S.CANCELLED):
        raise _refuse("cancelled", message, CANCELLABLE)
    await uow.commit()
    return MessageAction(id=message.id, status=S.CANCELLED.value)


async def retry(uow: UnitOfWork, principal: Principal, message_id: str) -> MessageAction:
    message = await _owned(uow.session, principal, message_id)
    attempt = message.attempts + 1
    moved = await transition(
        uow.session, message.id, RETRYABLE, S.QUEUED,
        attempts=attempt, error_message=None, next_attempt_at=None, send_at=None,
    )  # fmt: skip
    if not moved:
        raise _refuse("retried", message, RETRYABLE)
    await queries.reset_undelivered_recipients(uow.session, message.id)
    uow.enqueue(ProcessMessage(message_id=message.id, attempt=attempt))
    await uow.commit()
    return MessageAction(id=message.id, status=S.QUEUED.value)


async def fail(
    uow: UnitOfWork, principal: Principal, message_id: str, reason: str | None
) -> MessageAction:
    message = await _owned(uow.session, principal, message_id)
    error = reason or f"Marked as failed by {principal.kind} {principal.credential_id}"
    if not await transition(uow.session, message.id, FAILABLE, S.FAILED, error_message=error):
        raise _refuse("failed", message, FAILABLE)
    await uow.commit()
    return MessageAction(id=message.id, status=S.FAILED.value, error_message=error)
