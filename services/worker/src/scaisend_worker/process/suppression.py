"""Which recipients a send drops, and why, in ScaiSend's words (`suppressed_spam`, the docs'
reason) and SendGrid's ("Spam Reporting Address", what the Event Webhook reports).

Bypass flags (sendgrid-v3 §2.1): `bypass_list_management` skips every list, the ASM group
included; `bypass_bounce_management`, `bypass_spam_management` and
`bypass_unsubscribe_management` each skip only their own list (the global unsubscribes for the
last one; group unsubscribes still apply). Blocks are not a suppression: SendGrid keeps sending."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scaisend_core.models import SuppressionKind


@dataclass(frozen=True, slots=True)
class DropReason:
    code: str  # ScaiSend's machine reason
    sendgrid: str  # SendGrid's `reason` text in dropped events
    bypass: str | None  # the mail_settings flag that skips this list (besides list management)


# Checked in this order; the first list an address is on names the reason.
REASONS: dict[str, DropReason] = {
    SuppressionKind.BOUNCE: DropReason("suppressed_bounce", "Bounced Address", "bypass_bounce_management"),
    SuppressionKind.SPAM_REPORT: DropReason("suppressed_spam", "Spam Reporting Address", "bypass_spam_management"),
    SuppressionKind.UNSUBSCRIBE: DropReason("suppressed_unsubscribe", "Unsubscribed Address", "bypass_unsubscribe_management"),
    SuppressionKind.INVALID_EMAIL: DropReason("suppressed_invalid", "Invalid", None),
}  # fmt: skip
GROUP_REASON = DropReason("suppressed_group_unsubscribe", "Unsubscribed Address", None)


def enabled(mail_settings: Mapping[str, Any], name: str) -> bool:
    setting = mail_settings.get(name)
    return isinstance(setting, dict) and setting.get("enable") is True


def checks_lists(mail_settings: Mapping[str, Any]) -> bool:
    return not enabled(mail_settings, "bypass_list_management")


def drop_reason(
    kinds: Iterable[str], group_suppressed: bool, mail_settings: Mapping[str, Any]
) -> DropReason | None:
    """Why this address is dropped, or None when it is sent to."""
    if not checks_lists(mail_settings):
        return None
    on_lists = set(kinds)
    for kind, reason in REASONS.items():
        if kind in on_lists and not (reason.bypass and enabled(mail_settings, reason.bypass)):
            return reason
    return GROUP_REASON if group_suppressed else None


def event_details(reason: DropReason) -> dict[str, str]:
    return {"reason": reason.code, "sendgrid_reason": reason.sendgrid, "status": "5.0.0"}
