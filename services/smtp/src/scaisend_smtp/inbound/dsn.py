"""RFC 3464 delivery status notifications: `multipart/report; report-type=delivery-status`
(RFC 6522) and its SMTPUTF8 sibling `message/global-delivery-status` (RFC 6533)."""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from scaisend_smtp.inbound.mime import (
    address_field,
    find_part,
    header,
    returned,
    status_blocks,
    typed_value,
)
from scaisend_smtp.inbound.plaintext import diagnostic_window, notification_text
from scaisend_smtp.inbound.reports import DeliveryReport, RecipientReport

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def is_dsn(msg: Message) -> bool:
    return find_part(msg, *STATUS_TYPES) is not None


def parse_dsn(msg: Message) -> DeliveryReport | None:
    """The report's per-recipient blocks, or None when the status part names no recipient."""
    part = find_part(msg, *STATUS_TYPES)
    if part is None:
        return None
    blocks = status_blocks(part)
    per_message = blocks[0] if blocks else None
    recipients = tuple(r for r in (_recipient(b) for b in blocks) if r is not None)
    if not recipients:
        return None
    if any(r.diagnostic is None for r in recipients):
        recipients = _diagnose_from_notice(msg, recipients)
    return DeliveryReport(
        kind="dsn",
        recipients=recipients,
        returned=returned(msg),
        reporting_mta=typed_value(header(per_message, "Reporting-MTA")) if per_message else None,
    )


def _recipient(block: Message) -> RecipientReport | None:
    """A recipient block has Final-Recipient and Action (§2.3); the per-message block has
    neither, and a block missing either cannot be acted on."""
    final = address_field(header(block, "Final-Recipient"))
    action = (header(block, "Action") or "").split("(")[0].strip().lower()
    if not final or not action:
        return None
    status = header(block, "Status")
    match = _STATUS_CODE.search(status or "")
    return RecipientReport(
        action=_normalise_action(action),
        final_recipient=final,
        original_recipient=address_field(header(block, "Original-Recipient")),
        status=match.group(1) if match else None,
        diagnostic=typed_value(header(block, "Diagnostic-Code")),
        remote_mta=typed_value(header(block, "Remote-MTA")),
    )


def _diagnose_from_notice(
    msg: Message, recipients: tuple[RecipientReport, ...]
) -> tuple[RecipientReport, ...]:
    """Diagnostic-Code is optional (Exim omits it for an unrouteable address); the human-readable
    part usually still says why, next to the address."""
    text = notification_text(msg)
    return tuple(
        replace(r, diagnostic=diagnostic_window(r.final_recipient or "", text) or None)
        if r.diagnostic is None and r.final_recipient
        else r
        for r in recipients
    )


def _normalise_action(action: str) -> str:
    # Some MTAs (OpenSMTPD) write `error` for `failed`.
    return "failed" if action in {"error", "fail"} else action
