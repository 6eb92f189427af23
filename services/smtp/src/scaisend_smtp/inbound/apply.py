"""Turn a correlated report into what the user sees: events on the message timeline (with their
webhooks), recipient and message states, and suppression rows.

failed  -> `bounce` (or `blocked` when the classifier says block), recipient bounced, the address
           on the bounce (or block) list, message bounced once no recipient is still delivered
           or under way;
delayed -> a `deferred` event only;  delivered / relayed / expanded -> nothing;
ARF abuse, fraud, virus -> `spam_report` and the spam-report list; other feedback types -> nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import EventType
from scaisend_core.models import EmailMessage, MessageRecipient, MessageStatus, SuppressionKind
from scaisend_core.queue import JobBuffer
from scaisend_core.repositories.events import NewEvent, record_event
from scaisend_core.repositories.messages import transition
from scaisend_core.repositories.suppressions import add_suppression
from scaisend_smtp.bounces import classify
from scaisend_smtp.inbound import repository
from scaisend_smtp.inbound.correlate import Correlation
from scaisend_smtp.inbound.reports import DeliveryReport, FeedbackReport, RecipientReport

Outcome = Literal["applied", "duplicate", "ignored", "unmatched"]
# Best first: a report with one applied block counts as applied.
_RANK: tuple[Outcome, ...] = ("applied", "duplicate", "ignored", "unmatched")
_VAGUE_STATUS = {None, "5.0.0", "4.0.0"}
MAX_IP_LENGTH = 45
MAX_REASONS = 20  # a hostile report may carry thousands of recipient blocks


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: Outcome
    reasons: tuple[str, ...] = ()

    @staticmethod
    def combine(parts: Sequence[Applied]) -> Applied:
        if not parts:
            return Applied("unmatched", ("the report names no recipient",))
        best = min(parts, key=lambda p: _RANK.index(p.outcome))
        return Applied(best.outcome, tuple(r for p in parts for r in p.reasons)[:MAX_REASONS])


async def apply_delivery(
    session: AsyncSession, jobs: JobBuffer, found: Correlation, report: DeliveryReport
) -> Applied:
    results = []
    for block in report.recipients:
        recipient = found.recipient(block.addresses)
        if recipient is None:
            results.append(Applied("unmatched", (f"{block.final_recipient} is not a recipient",)))
        elif block.action == "failed":
            results.append(await _bounce(session, jobs, found, recipient, block, report))
        elif block.action == "delayed":
            results.append(await _deferred(session, jobs, found, recipient, block, report))
        else:
            results.append(Applied("ignored", (f"action {block.action} needs nothing",)))
    if any(r.outcome == "applied" for r in results):
        await _settle_message(session, found.loaded.message.id)
    return Applied.combine(results)


async def _bounce(
    session: AsyncSession,
    jobs: JobBuffer,
    found: Correlation,
    recipient: MessageRecipient,
    block: RecipientReport,
    report: DeliveryReport,
) -> Applied:
    # A vague code (5.0.0) lets the classifier read the code the diagnostic quotes instead.
    enhanced = None if block.status in _VAGUE_STATUS else block.status
    verdict = classify(block.reply_code, block.diagnostic or "", enhanced)
    reason = block.diagnostic or f"{block.action} {verdict.status}"
    if not await repository.mark_recipient_bounced(
        session, recipient.id, verdict.bounce_type, reason
    ):
        return Applied("duplicate", (f"{recipient.email} had already bounced",))
    blocked = verdict.bounce_type == "block"
    message = found.loaded.message
    details = {
        "bounce_type": verdict.bounce_type,
        "status": verdict.status,
        "reason": reason,
        "diagnostic": block.diagnostic,
        "bounce_classification": verdict.classification,
        **_report_details(report, block),
    }
    event_type = EventType.BLOCKED if blocked else EventType.BOUNCE
    await _record(session, jobs, message, recipient, event_type, details)
    await add_suppression(
        session,
        tenant_id=recipient.tenant_id,
        kind=SuppressionKind.BLOCK if blocked else SuppressionKind.BOUNCE,
        email=recipient.email,
        reason=reason,
        status=verdict.status,
        bounce_type=verdict.bounce_type,
        source=report.kind,
        message_id=message.id,
    )
    return Applied("applied")


async def _deferred(
    session: AsyncSession,
    jobs: JobBuffer,
    found: Correlation,
    recipient: MessageRecipient,
    block: RecipientReport,
    report: DeliveryReport,
) -> Applied:
    details = {
        "status": block.status,
        "reason": block.diagnostic or "delayed",
        "smtp_response": block.diagnostic or f"delayed {block.status or ''}".strip(),
        **_report_details(report, block),
    }
    await _record(session, jobs, found.loaded.message, recipient, EventType.DEFERRED, details)
    return Applied("applied")


async def apply_feedback(
    session: AsyncSession, jobs: JobBuffer, found: Correlation, report: FeedbackReport
) -> Applied:
    if not report.is_complaint:
        return Applied("ignored", (f"feedback type {report.feedback_type} is not a complaint",))
    recipient = found.recipient((*report.original_rcpt_to, *report.returned.recipients))
    if recipient is None:
        return Applied("unmatched", ("no recipient of the message is named by the report",))
    message = found.loaded.message
    if await repository.has_event(session, message.id, recipient.email, EventType.SPAM_REPORT):
        return Applied("duplicate", (f"{recipient.email} already reported this message",))
    details = {
        "feedback_type": report.feedback_type,
        "user_agent": report.user_agent,
        "source": "arf",
        "reporting_mta": report.reporting_mta,
        "source_ip": report.source_ip,
        "arrival_date": report.arrival_date,
    }
    await _record(session, jobs, message, recipient, EventType.SPAM_REPORT, details)
    ip = report.source_ip if report.source_ip and len(report.source_ip) <= MAX_IP_LENGTH else None
    await add_suppression(
        session,
        tenant_id=recipient.tenant_id,
        kind=SuppressionKind.SPAM_REPORT,
        email=recipient.email,
        reason=f"{report.feedback_type} report from {report.user_agent or 'a feedback loop'}",
        source="arf",
        message_id=message.id,
        ip=ip,
    )
    return Applied("applied")


async def _record(
    session: AsyncSession,
    jobs: JobBuffer,
    message: EmailMessage,
    recipient: MessageRecipient,
    event_type: EventType,
    details: dict[str, Any],
) -> None:
    clean = {k: v for k, v in details.items() if v is not None}
    event = NewEvent(message.tenant_id, event_type, message.id, recipient.email, clean)
    await record_event(session, event, jobs)


def _report_details(report: DeliveryReport, block: RecipientReport) -> dict[str, Any]:
    return {
        "source": report.kind,
        "action": block.action,
        "reporting_mta": report.reporting_mta,
        "remote_mta": block.remote_mta,
    }


async def _settle_message(session: AsyncSession, message_id: str) -> None:
    """Bounced once no recipient is delivered or still under way (a message still sending is
    settled by the outbound pipeline, not here)."""
    if await repository.open_recipient_count(session, message_id) == 0:
        await transition(
            session,
            message_id,
            (MessageStatus.SENT, MessageStatus.DELIVERED),
            MessageStatus.BOUNCED,
        )
