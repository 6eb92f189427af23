"""What the parsers extract from an inbound message: delivery reports (RFC 3464 DSNs and
non-standard bounces), feedback reports (RFC 5965 ARF), and the returned message's headers
that correlate either one with a message we sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ReportKind = Literal["dsn", "bounce_text", "arf", "unknown"]

_REPLY_CODE = re.compile(r"^\s*([245]\d\d)(?:[\s-]|$)")


@dataclass(frozen=True, slots=True)
class Returned:
    """Correlation keys from the returned message (or its headers) inside a report."""

    scaisend_message_id: str | None = None
    message_id: str | None = None
    return_path: str | None = None
    recipients: tuple[str, ...] = ()  # To/Cc addresses, lowercased


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """One per-recipient block: RFC 3464 §2.3, or what a heuristic found in a text bounce."""

    action: str  # failed | delayed | delivered | relayed | expanded (lowercased)
    final_recipient: str | None
    original_recipient: str | None = None
    status: str | None = None  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str | None = None  # Diagnostic-Code text without its type, whitespace collapsed
    remote_mta: str | None = None
    code: int | None = None  # an SMTP reply code a heuristic found away from the diagnostic

    @property
    def reply_code(self) -> int | None:
        """The SMTP reply code the remote MTA gave, when the report quotes one."""
        match = _REPLY_CODE.match(self.diagnostic or "")
        return int(match.group(1)) if match else self.code

    @property
    def addresses(self) -> tuple[str, ...]:
        """Addresses this block may name, most specific to our send first."""
        return tuple(a for a in (self.original_recipient, self.final_recipient) if a)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    kind: Literal["dsn", "bounce_text"]
    recipients: tuple[RecipientReport, ...]
    returned: Returned
    reporting_mta: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    feedback_type: str  # lowercased: abuse, fraud, virus, other, not-spam, auth-failure …
    returned: Returned
    user_agent: str | None = None
    version: str | None = None
    original_rcpt_to: tuple[str, ...] = ()
    original_mail_from: str | None = None
    source_ip: str | None = None
    reported_domain: str | None = None
    arrival_date: str | None = None
    reporting_mta: str | None = None

    @property
    def is_complaint(self) -> bool:
        """Only these types say a recipient does not want our mail (RFC 5965 §7.3)."""
        return self.feedback_type in {"abuse", "fraud", "virus"}


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """Neither a DSN, a bounce a heuristic knows, nor an ARF report; `reason` says why."""

    reason: str


Report = DeliveryReport | FeedbackReport | Unrecognised


def report_kind(report: Report) -> ReportKind:
    if isinstance(report, DeliveryReport):
        return report.kind
    if isinstance(report, FeedbackReport):
        return "arf"
    return "unknown"
