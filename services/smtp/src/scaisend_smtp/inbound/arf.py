"""RFC 5965 Abuse Reporting Format: `multipart/report; report-type=feedback-report`, the
machine-readable `message/feedback-report` fields and the returned message."""

from __future__ import annotations

from email.message import Message

from scaisend_smtp.inbound.mime import (
    address_field,
    all_headers,
    find_part,
    header,
    header_block,
    returned,
    typed_value,
)
from scaisend_smtp.inbound.reports import FeedbackReport

FEEDBACK_TYPE = "message/feedback-report"


def is_arf(msg: Message) -> bool:
    return find_part(msg, FEEDBACK_TYPE) is not None


def parse_arf(msg: Message) -> FeedbackReport | None:
    """The report's fields, or None when the mandatory Feedback-Type (§3.1) is missing."""
    part = find_part(msg, FEEDBACK_TYPE)
    if part is None:
        return None
    fields = header_block(part)
    feedback_type = (header(fields, "Feedback-Type") or "").strip().lower()
    if not feedback_type:
        return None
    rcpt_to = (address_field(v) for v in all_headers(fields, "Original-Rcpt-To"))
    return FeedbackReport(
        feedback_type=feedback_type,
        returned=returned(msg),
        user_agent=header(fields, "User-Agent"),
        version=header(fields, "Version"),
        original_rcpt_to=tuple(dict.fromkeys(a for a in rcpt_to if a)),
        original_mail_from=address_field(header(fields, "Original-Mail-From")),
        source_ip=header(fields, "Source-IP"),
        reported_domain=header(fields, "Reported-Domain"),
        # Received-Date is the pre-RFC name some providers (Yahoo, AOL) still send.
        arrival_date=header(fields, "Arrival-Date") or header(fields, "Received-Date"),
        reporting_mta=typed_value(header(fields, "Reporting-MTA")),
    )
