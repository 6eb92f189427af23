"""What an attempt's per-recipient results mean: recipient rows, timeline events, suppressions,
retries, and the message's state, written in one transaction.

- 2xx: recipient `delivered`, a `delivered` event (smtp_response, attempt, tls, mx).
- 4xx, lost connection, timeout: `deferred` with a `deferred` event (smtp_response, attempt,
  next_attempt_at) on SMTP_RETRY_SCHEDULE; once SMTP_MAX_RETRY_AGE has passed since the
  message was processed, a soft bounce ("expired") instead.
- 5xx: classified by bounces.classify: `bounce` (hard/soft) onto the bounce list, or
  `blocked` onto the block list; the recipient is `bounced`.
- Held by our own domain limits: no event, tried again shortly (not counted as an attempt).

Mixed outcomes: the message is `delivered` (`sent` through a smarthost, which only tells us the
relay took it) when any recipient was accepted, else `bounced` when any bounced, else `failed`
(every recipient dropped). While any recipient still waits for a retry the message stays
`sending`; each recipient row carries its own state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import EventType
from scaisend_core.metrics import DELIVERIES
from scaisend_core.models import (
    EmailMessage,
    MessageRecipient,
    MessageStatus,
    RecipientStatus,
    SuppressionKind,
)
from scaisend_core.queue import JobBuffer
from scaisend_core.repositories.events import NewEvent, insert_events
from scaisend_core.repositories.suppressions import add_suppression
from scaisend_smtp.bounces import classify, enhanced_status
from scaisend_smtp.outbound.sender import SendResult, Status
from scaisend_smtp.outbound.store import (
    MessageMove,
    RecipientChange,
    move_messages,
    update_recipients,
)

WAITING = {RecipientStatus.PENDING.value, RecipientStatus.DEFERRED.value}


@dataclass(frozen=True, slots=True)
class Held:
    """Held back by our own limits; no attempt was made."""

    recipient: MessageRecipient
    retry_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Dropped:
    recipient: MessageRecipient
    reason: str
    suppression: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[int, ...]
    max_age: timedelta

    def delay(self, attempts: int) -> timedelta:
        """Wait after the `attempts`-th try (1-based); the last delay repeats."""
        return timedelta(seconds=self.schedule[min(attempts, len(self.schedule)) - 1])


@dataclass(slots=True)
class Plan:
    """Everything one attempt writes, accumulated before a single commit."""

    message: EmailMessage
    now: datetime
    attempt: int  # the message-level attempt number, 1-based
    changes: list[RecipientChange] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    suppressions: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)  # recipient id -> new status
    next_at: dict[str, datetime] = field(default_factory=dict)

    def event(self, kind: EventType, rcpt: MessageRecipient, **metadata: Any) -> None:
        self.events.append(
            NewEvent(self.message.tenant_id, kind, self.message.id, rcpt.email, metadata, self.now)
        )

    def change(self, rcpt: MessageRecipient, new_status: str, **values: Any) -> None:
        status = str(new_status)  # plain str, also for RecipientStatus members
        self.status[rcpt.id] = status
        if values.get("next_attempt_at") is not None:
            self.next_at[rcpt.id] = values["next_attempt_at"]
        self.changes.append(
            RecipientChange(
                id=rcpt.id,
                status=status,
                smtp_response=values.get("smtp_response", rcpt.smtp_response),
                bounce_type=values.get("bounce_type", rcpt.bounce_type),
                attempts=values.get("attempts", rcpt.attempts),
                next_attempt_at=values.get("next_attempt_at"),
                delivered_at=values.get("delivered_at", rcpt.delivered_at),
                updated_at=self.now,
            )
        )


def plan_result(
    plan: Plan, rcpt: MessageRecipient, result: SendResult, policy: RetryPolicy
) -> None:
    DELIVERIES.labels(result.status.value, rcpt.email.rpartition("@")[2]).inc()
    tries = rcpt.attempts + 1
    common = {"smtp_response": result.smtp_response, "attempt": tries, "mx": result.mx}
    if result.status == Status.SENT:
        plan.change(
            rcpt,
            RecipientStatus.DELIVERED,
            smtp_response=result.smtp_response,
            attempts=tries,
            delivered_at=plan.now,
        )
        plan.event(EventType.DELIVERED, rcpt, **common, tls=result.tls)
    elif result.status == Status.HARD_FAIL:
        _bounce(plan, rcpt, result, tries, common)
    elif plan.now >= deadline(plan.message, policy):
        _expire(plan, rcpt, result, tries, common, policy)
    else:
        next_at = min(plan.now + policy.delay(tries), deadline(plan.message, policy))
        plan.change(
            rcpt,
            RecipientStatus.DEFERRED,
            smtp_response=result.smtp_response,
            attempts=tries,
            next_attempt_at=next_at,
        )
        plan.event(EventType.DEFERRED, rcpt, **common, next_attempt_at=next_at.isoformat())


def deadline(message: EmailMessage, policy: RetryPolicy) -> datetime:
    return (message.processed_at or message.created_at) + policy.max_age


def _bounce(
    plan: Plan, rcpt: MessageRecipient, result: SendResult, tries: int, common: dict[str, Any]
) -> None:
    verdict = classify(result.code, result.reply)
    kind = EventType.BLOCKED if verdict.bounce_type == "block" else EventType.BOUNCE
    plan.change(
        rcpt,
        RecipientStatus.BOUNCED,
        smtp_response=result.smtp_response,
        bounce_type=verdict.bounce_type,
        attempts=tries,
    )
    plan.event(
        kind,
        rcpt,
        **common,
        bounce_type=verdict.bounce_type,
        reason=result.smtp_response,
        status=verdict.status,
        bounce_classification=verdict.classification,
    )
    _suppress(plan, rcpt, verdict.bounce_type, result.smtp_response, verdict.status)


def _expire(
    plan: Plan,
    rcpt: MessageRecipient,
    result: SendResult,
    tries: int,
    common: dict[str, Any],
    policy: RetryPolicy,
) -> None:
    hours = int(policy.max_age.total_seconds() // 3600)
    reason = f"{result.smtp_response} (expired: still failing after {hours}h of retries)"
    status = enhanced_status(result.reply) or "4.4.7"
    plan.change(
        rcpt,
        RecipientStatus.BOUNCED,
        smtp_response=result.smtp_response,
        bounce_type="soft",
        attempts=tries,
    )
    plan.event(
        EventType.BOUNCE,
        rcpt,
        **common,
        bounce_type="soft",
        reason=reason,
        status=status,
        bounce_classification="Technical",
    )
    _suppress(plan, rcpt, "soft", reason, status)


def _suppress(
    plan: Plan, rcpt: MessageRecipient, bounce_type: str, reason: str, status: str
) -> None:
    kind = SuppressionKind.BLOCK if bounce_type == "block" else SuppressionKind.BOUNCE
    plan.suppressions.append(
        {
            "kind": kind,
            "email": rcpt.email,
            "reason": reason,
            "status": status,
            "bounce_type": bounce_type,
        }
    )


def plan_held(plan: Plan, held: Held) -> None:
    plan.change(held.recipient, held.recipient.status, next_attempt_at=held.retry_at)


def plan_dropped(plan: Plan, dropped: Dropped) -> None:
    plan.change(dropped.recipient, RecipientStatus.DROPPED)
    plan.event(
        EventType.DROPPED, dropped.recipient, reason=dropped.reason, suppression=dropped.suppression
    )


def final_status(statuses: list[str], relayed: bool) -> MessageStatus | None:
    """None while a recipient still waits; else the message's end state (module docstring)."""
    if any(s in WAITING for s in statuses):
        return None
    if RecipientStatus.DELIVERED.value in statuses:
        return MessageStatus.SENT if relayed else MessageStatus.DELIVERED
    if RecipientStatus.BOUNCED.value in statuses:
        return MessageStatus.BOUNCED
    return MessageStatus.FAILED


@dataclass(frozen=True, slots=True)
class Entry:
    """One attempt's outcome, ready to write."""

    plan: Plan
    recipients: list[MessageRecipient]
    relayed: bool
    error: str | None = None


async def write_many(
    session: AsyncSession, entries: list[Entry], jobs: JobBuffer
) -> list[datetime | None]:
    """Write the entries in the caller's transaction; for each, when its next attempt is due
    (None when the message is done)."""
    await update_recipients(session, [c for entry in entries for c in entry.plan.changes])
    for entry in entries:
        for suppression in entry.plan.suppressions:
            await add_suppression(session, tenant_id=entry.plan.message.tenant_id,
                                  source="smtp", message_id=entry.plan.message.id, **suppression)  # fmt: skip
    # Core rows, one multi-row INSERT: the ORM flush of MessageEvent objects cost more than
    # the rest of writing an outcome.
    events = [e for entry in entries for e in entry.plan.events]
    await insert_events(await session.connection(), events, jobs)
    moves = [_message_move(entry) for entry in entries]
    await move_messages(session, moves)
    return [move.next_attempt_at if move.status == MessageStatus.SENDING else None
            for move in moves]  # fmt: skip


def _message_move(entry: Entry) -> MessageMove:
    """Where the message goes: still `sending` until its earliest waiting recipient is due, or
    its end state (final_status) with the stamps that state carries."""
    plan = entry.plan
    statuses = [plan.status.get(r.id, r.status) for r in entry.recipients]
    final = final_status(statuses, entry.relayed)
    if final is None:
        waiting = [plan.next_at.get(r.id) or r.next_attempt_at for r in entry.recipients
                   if plan.status.get(r.id, r.status) in WAITING]  # fmt: skip
        next_at = min((w for w in waiting if w is not None), default=plan.now)
        return MessageMove(plan.message.id, MessageStatus.SENDING, plan.now, next_at)
    sent = plan.now if final in (MessageStatus.DELIVERED, MessageStatus.SENT) else None
    return MessageMove(
        plan.message.id, final, plan.now, None, sent_at=sent,
        delivered_at=plan.now if final == MessageStatus.DELIVERED else None, error=entry.error,
    )  # fmt: skip
