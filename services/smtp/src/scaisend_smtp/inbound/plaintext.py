"""Bounces that are not RFC 3464 DSNs: plain-text notices from old MTAs (qmail, Exchange 2003,
Yahoo's qmail-style notice, Exim before DSNs …).

flufl.bounce (GNU Mailman's detector collection) finds the failed addresses and whether the
failure is temporary. It says nothing about why, so the heuristic here reads the notice around
each address: the first window of lines (up to the next blank line) that quotes an RFC 3463
status (`5.1.1`, `#5.1.1`) or an SMTP reply code (`554:`, `550-`) becomes the diagnostic; without
one, the first window that names the address does. The classifier then reads that text."""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from scaisend_smtp.inbound.mime import part_text, returned, returned_from_text
from scaisend_smtp.inbound.reports import DeliveryReport, RecipientReport, Returned

WINDOW_LINES = 6
MAX_DIAGNOSTIC = 1000
_STATUS = re.compile(r"(?<![\d.])#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<![\d.#])([245]\d\d)(?=[\s:-])")


def parse_text_bounce(msg: Message) -> DeliveryReport | None:
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return None
    text = notification_text(msg)
    failures = [(a, "failed") for a in sorted(permanent)]
    failures += [(a, "delayed") for a in sorted(temporary - permanent)]
    recipients = tuple(_recipient(address.decode("ascii", "replace"), action, text)
                       for address, action in failures)  # fmt: skip
    return DeliveryReport(kind="bounce_text", recipients=recipients, returned=_returned(msg))


def notification_text(msg: Message) -> str:
    """The text/plain of the notice itself, leaving out any attached original message."""
    if msg.get_content_maintype() == "message":
        return ""
    if msg.is_multipart():
        payload = msg.get_payload()
        parts = payload if isinstance(payload, list) else []
        return "\n".join(notification_text(p) for p in parts if isinstance(p, Message))
    return part_text(msg) if msg.get_content_type() == "text/plain" else ""


def _returned(msg: Message) -> Returned:
    attached = returned(msg)
    if attached != Returned():
        return attached
    # The original is quoted inline after the notice; its header lines still parse.
    body = msg.get_payload()
    return returned_from_text(part_text(msg) if isinstance(body, str) else notification_text(msg))


def _recipient(address: str, action: str, text: str) -> RecipientReport:
    window = diagnostic_window(address, text)
    status = _STATUS.search(window)
    reply = _REPLY.search(_STATUS.sub(" ", window))
    return RecipientReport(
        action=action,
        final_recipient=address.lower(),
        status=status.group(1) if status else None,
        diagnostic=window or None,
        code=int(reply.group(1)) if reply else None,
    )


def diagnostic_window(address: str, text: str) -> str:
    """What the notice says about `address` (see the module docstring), or ""."""
    lines = text.splitlines()
    windows = [_window(lines, i) for i, line in enumerate(lines)
               if address.lower() in line.lower()]  # fmt: skip
    chosen = next((w for w in windows if _STATUS.search(w) or _REPLY.search(w)), None)
    return (chosen or (windows[0] if windows else ""))[:MAX_DIAGNOSTIC]


def _window(lines: list[str], start: int) -> str:
    taken: list[str] = []
    for line in lines[start : start + WINDOW_LINES]:
        if not line.strip() and taken:
            break
        taken.append(line.strip())
    return " ".join(" ".join(taken).split())
