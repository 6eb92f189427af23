"""Reading untrusted MIME without trusting it: bytes to a message tree, header values to plain
text whatever their charset, report parts to header blocks, and the returned message's
correlation headers. Nothing here raises on malformed input; it yields less instead."""

from __future__ import annotations

import contextlib
import email
import re
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from scaisend_smtp.inbound.reports import Returned

# Parts that carry the message a report is about (RFC 3462/6522 §3, RFC 6533, RFC 5965 §2).
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers",
                  "message/rfc822-headers", "message/global-headers")  # fmt: skip
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_TEXT_HEADER = {
    "scaisend": re.compile(r"(?im)^X-ScaiSend-Message-Id:[ \t]*(\S+)"),
    "message_id": re.compile(r"(?im)^Message-ID:[ \t]*(<[^>\s]+>|\S+)"),
    "return_path": re.compile(r"(?im)^Return-Path:[ \t]*<([^>\s]*)>"),
}


def parse_bytes(raw: bytes) -> Message:
    """compat32 keeps header values as the sender wrote them; the modern policy raises on some
    malformed addresses when a header is read, and report fields are not addresses anyway."""
    return email.message_from_bytes(raw, policy=policy.compat32)


def header_text(value: object) -> str:
    """A header value as one line of text: RFC 2047 words decoded, undecodable bytes replaced."""
    if value is None:
        return ""
    text = str(value)
    # A wrong charset label or a broken encoded word keeps the raw text rather than the field.
    with contextlib.suppress(HeaderParseError, UnicodeError, LookupError, ValueError):
        text = str(make_header(decode_header(text)))
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def header(msg: Message, name: str) -> str | None:
    return header_text(msg.get(name)) or None


def all_headers(msg: Message, name: str) -> list[str]:
    return [t for t in (header_text(v) for v in msg.get_all(name, [])) if t]


def part_text(part: Message) -> str:
    """The decoded body of a leaf part; an unknown or lying charset degrades to replacement."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def find_part(msg: Message, *content_types: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() in content_types:
            return part
    return None


def header_block(part: Message) -> Message:
    """A message/* part's first header block (feedback-report fields, returned headers)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return HeaderParser(policy=policy.compat32).parsestr(_header_text_body(part))


def _header_text_body(part: Message) -> str:
    """RFC 5322 headers are ASCII whatever charset label the part carries (a utf-16 label on
    text/rfc822-headers would otherwise turn every field into noise)."""
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def status_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part: per-message fields first, then one
    block per recipient. The stdlib splits delivery-status itself; an encoded part or RFC 6533's
    global-delivery-status arrives as text and is split here."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        first = payload[0]
        rest = first.get_payload()
        return [first, *_split_blocks(rest if isinstance(rest, str) else "")]
    return _split_blocks(part_text(part))


def _split_blocks(text: str) -> list[Message]:
    parser = HeaderParser(policy=policy.compat32)
    return [
        parser.parsestr(chunk.strip() + "\n") for chunk in _BLANK_LINE.split(text) if chunk.strip()
    ]


def returned(msg: Message) -> Returned:
    """Correlation headers of the returned message, from an attached copy or its headers."""
    part = find_part(msg, *RETURNED_TYPES)
    return Returned() if part is None else returned_headers(header_block(part))


def returned_headers(headers: Message) -> Returned:
    addresses = getaddresses(all_headers(headers, "To") + all_headers(headers, "Cc"))
    return Returned(
        scaisend_message_id=header(headers, "X-ScaiSend-Message-Id"),
        message_id=header(headers, "Message-ID"),
        return_path=_address(header(headers, "Return-Path")),
        recipients=tuple(a.lower() for _, a in addresses if "@" in a),
    )


def returned_from_text(text: str) -> Returned:
    """A text bounce quotes the original inline; its header lines are still recognisable."""
    found = {name: pattern.search(text) for name, pattern in _TEXT_HEADER.items()}
    return Returned(
        scaisend_message_id=found["scaisend"].group(1) if found["scaisend"] else None,
        message_id=found["message_id"].group(1) if found["message_id"] else None,
        return_path=found["return_path"].group(1) or None if found["return_path"] else None,
    )


def _address(value: str | None) -> str | None:
    if not value:
        return None
    address = parseaddr(value)[1]
    return address.lower() if "@" in address else None


def typed_value(value: str | None) -> str | None:
    """`smtp; 550 5.1.1 …` / `dns; mx.example.com` (RFC 3464 §2.1.2) without the type."""
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    return (rest if sep and " " not in kind.strip() else value).strip() or None


def address_field(value: str | None) -> str | None:
    """`rfc822; user@example.com` (RFC 3464 §2.3.1/2.3.2, RFC 5965 §3.5) to the bare address."""
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    if sep and kind.strip().lower() not in {"rfc822", "utf-8", "x-unknown"}:
        return None
    address = (rest if sep else kind).strip().strip("<>").strip()
    return address.lower() if "@" in address else None
