"""deliver(): one delivery attempt of one message, as named steps.

claim -> drop newly suppressed -> load the rendered MIME -> DKIM-sign -> send (per recipient
domain to its MX, or via the smarthost, or into the capture directory) -> record results.
Recording (rows, events, suppressions, the next attempt) is outcomes.py's."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arq import Retry

from scaisend_core.errors import ObjectNotFound
from scaisend_core.logs import log_context
from scaisend_core.models import EmailMessage, MessageRecipient, SenderDomain
from scaisend_core.queue import DeliverMessage, enqueue
from scaisend_core.repositories.suppressions import normalise_email, suppressed_kinds
from scaisend_smtp.outbound import claims, outcomes, transport
from scaisend_smtp.outbound.context import Outbound
from scaisend_smtp.outbound.dkim import crlf, sign
from scaisend_smtp.outbound.sender import Envelope, Rcpt, SendResult

log = logging.getLogger(__name__)
ERROR_RETRY = timedelta(minutes=1)
# Lists that stop a retry (SendGrid's drop reasons); blocks do not stop later sends.
DROP_REASONS = {
    "bounce": ("bypass_bounce_management", "Bounced Address"),
    "spam_report": ("bypass_spam_management", "Spam Reporting Address"),
    "unsubscribe": ("bypass_unsubscribe_management", "Unsubscribed Address"),
    "invalid_email": ("bypass_bounce_management", "Invalid"),
}


class ContentMissing(Exception):
    pass


@dataclass(slots=True)
class Attempt:
    job: DeliverMessage
    message: EmailMessage
    recipients: list[MessageRecipient]
    due: list[MessageRecipient]
    now: datetime
    content: bytes = b""
    domain: SenderDomain | None = None
    results: list[SendResult] = field(default_factory=list)
    held: list[outcomes.Held] = field(default_factory=list)
    dropped: list[outcomes.Dropped] = field(default_factory=list)


async def deliver(out: Outbound, job: DeliverMessage) -> str:
    """Run one attempt; returns a one-line summary (arq keeps it as the job result)."""
    try:
        attempt = await claim(out, job)
    except Retry:
        raise
    except Exception as exc:  # database or Redis unreachable: nothing claimed, try later
        log.warning("claiming %s failed (%s); retrying the job", job.job_id(), exc)
        raise Retry(defer=ERROR_RETRY) from exc
    if isinstance(attempt, str):
        return attempt
    with log_context(message_id=job.message_id, tenant_id=attempt.message.tenant_id):
        try:
            await drop_suppressed(out, attempt)
            await load_content(out, attempt)
            await sign_content(out, attempt)
            await send(out, attempt)
            return await record(out, attempt)
        except ContentMissing as exc:
            return await fail(out, attempt, str(exc))
        except Exception:
            # The claim is committed, so arq re-running this job would find nothing to do:
            # schedule the next attempt ourselves (a recipient may get the message twice if
            # it was sent before the failure; delivery is at-least-once).
            log.exception("delivery attempt %s failed unexpectedly", job.attempt + 1)
            await _enqueue_next(out, job, attempt.now + ERROR_RETRY)
            return "error: retrying"


async def claim(out: Outbound, job: DeliverMessage) -> Attempt | str:
    """Claim the attempt (claims.py); a stale job stops here, an early one is put back."""
    claimed = await out.claimer.claim(job)
    if isinstance(claimed, claims.Skip):
        return claimed.reason
    if isinstance(claimed, claims.NotYet):
        raise Retry(defer=claimed.retry_in)
    return Attempt(job, claimed.message, claimed.recipients, list(claimed.due), claimed.now,
                   domain=claimed.domain)  # fmt: skip


async def drop_suppressed(out: Outbound, attempt: Attempt) -> None:
    """On a retry, recipients who reached a suppression list since are dropped (the worker
    checked before the first attempt); the message's bypass settings still apply."""
    if attempt.job.attempt == 0 or not attempt.due:
        return
    settings = attempt.message.mail_settings or {}
    if _enabled(settings, "bypass_list_management"):
        return
    async with out.sessions() as session:
        found = await suppressed_kinds(
            session, attempt.message.tenant_id, [r.email for r in attempt.due]
        )
    for rcpt in list(attempt.due):
        for kind in sorted(found.get(normalise_email(rcpt.email), ())):
            bypass, reason = DROP_REASONS.get(kind, ("", ""))
            if reason and not _enabled(settings, bypass):
                attempt.dropped.append(outcomes.Dropped(rcpt, reason, kind))
                attempt.due.remove(rcpt)
                break


def _enabled(settings: dict[str, object], name: str) -> bool:
    value = settings.get(name)
    return isinstance(value, dict) and value.get("enable") is True


async def load_content(out: Outbound, attempt: Attempt) -> None:
    key = attempt.message.mime_key
    if not key:
        raise ContentMissing("the rendered message has no mime_key")
    try:
        attempt.content = crlf(await out.storage.get(key))
    except ObjectNotFound as exc:
        raise ContentMissing(f"the rendered message {key} is missing from storage") from exc


async def sign_content(out: Outbound, attempt: Attempt) -> None:
    """DKIM-sign once for every recipient, with the From domain's key(s) (the row was loaded
    with the claim)."""
    if attempt.domain is None:
        log.warning("no sender domain row for %s; sending unsigned", attempt.message.from_email)
        return
    material = out.keys.material(attempt.domain)
    timestamp = int(attempt.now.timestamp())
    attempt.content = sign(attempt.content, material, timestamp) + attempt.content


def _return_path_host(out: Outbound, domain: SenderDomain | None) -> str:
    """The sender domain's bounce host once its MX checks out, else the inbound host itself,
    so DSNs reach the inbound listener either way."""
    check = (domain.dns_checks or {}).get("return_path") or {} if domain else {}
    return domain.return_path_host if domain and check.get("valid") else out.settings.inbound_host


def _envelope(
    out: Outbound, message: EmailMessage, rcpts: list[MessageRecipient], host: str
) -> Envelope:
    """VERP MAIL FROM: the recipient when the transaction has one, else the message."""
    token = rcpts[0].id if len(rcpts) == 1 else message.id
    recipients = tuple(Rcpt(r.id, r.email) for r in rcpts)
    return Envelope(out.verp.address(token, host), recipients)


async def send(out: Outbound, attempt: Attempt) -> None:
    if not attempt.due:
        return
    host = _return_path_host(out, attempt.domain)
    mode, content = out.settings.smtp_delivery, attempt.content
    if mode != "mx":
        envelope = _envelope(out, attempt.message, attempt.due, host)
        if mode == "capture":
            attempt.results += await transport.capture(out, attempt.message.id, envelope, content)
        else:
            attempt.results += await transport.via_smarthost(out, envelope, content)
        return
    groups: dict[str, list[MessageRecipient]] = defaultdict(list)
    for rcpt in attempt.due:
        groups[rcpt.email.rpartition("@")[2].lower()].append(rcpt)
    envelopes = [_envelope(out, attempt.message, group, host) for group in groups.values()]
    sent = await asyncio.gather(*(transport.via_mx(out, e, content) for e in envelopes))
    by_id = {r.id: r for r in attempt.due}
    for outcome in sent:
        if isinstance(outcome, transport.HeldGroup):
            retry_at = attempt.now + timedelta(seconds=outcome.held.retry_in)
            attempt.held += [outcomes.Held(by_id[r.id], retry_at, outcome.held.reason)
                             for r in outcome.envelope.recipients]  # fmt: skip
        else:
            attempt.results += outcome


async def record(out: Outbound, attempt: Attempt, error: str | None = None) -> str:
    """Write the attempt's outcomes (group-committed with others), then schedule the next
    attempt."""
    settings = out.settings
    policy = outcomes.RetryPolicy(
        tuple(settings.smtp_retry_schedule), timedelta(seconds=settings.smtp_max_retry_age)
    )
    plan = outcomes.Plan(attempt.message, attempt.now, attempt.job.attempt + 1)
    by_id = {r.id: r for r in attempt.recipients}
    for result in attempt.results:
        outcomes.plan_result(plan, by_id[result.recipient.id], result, policy)
    for held in attempt.held:
        outcomes.plan_held(plan, held)
    for dropped in attempt.dropped:
        outcomes.plan_dropped(plan, dropped)
    relayed = settings.smtp_delivery == "smarthost"
    entry = outcomes.Entry(plan, attempt.recipients, relayed, error)
    next_at = await out.recorder.write(entry)
    if next_at is not None:
        await _enqueue_next(out, attempt.job, next_at)
    counts: dict[str, int] = defaultdict(int)
    for result in attempt.results:
        counts[result.status.value] += 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing sent"
    return f"attempt {attempt.job.attempt + 1}: {summary}; {len(attempt.held)} held"


async def fail(out: Outbound, attempt: Attempt, error: str) -> str:
    """The message cannot be sent at all (its content is gone): recipients due now are
    dropped and the message fails with the reason."""
    log.error("message cannot be delivered: %s", error)
    for rcpt in attempt.due:
        attempt.dropped.append(outcomes.Dropped(rcpt, f"Internal error: {error}", ""))
    attempt.due = []
    await record(out, attempt, error=error)
    return f"failed: {error}"


async def _enqueue_next(out: Outbound, job: DeliverMessage, at: datetime) -> None:
    following = DeliverMessage(message_id=job.message_id, attempt=job.attempt + 1)
    await enqueue(out.redis, following, defer_until=at)
