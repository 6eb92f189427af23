"""Header fields as RFC 5322 wants them, with the stdlib's encoders: RFC 2047 encoded words for
non-ASCII text (`email.header.Header`) and display names (`email.utils.formataddr`), RFC 2231 for
non-ASCII parameters (`email.utils.encode_rfc2231`), folding at 78 columns where the value has
room to fold. An ASCII word longer than a line (a List-Unsubscribe URL) stays whole: RFC 5322
allows 998 characters, while encoding it would corrupt the URL. CR and LF never get through."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.header import Header
from email.utils import encode_rfc2231, formataddr

MAX_LINE = 78
CRLF = "\r\n"
_ADDR_SPEC = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 2045 token characters


class HeaderError(ValueError):
    """A value that cannot be a header field (CR/LF, a malformed address)."""


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderError("a header value may not contain CR or LF")
    return value


def field_name(name: str) -> str:
    """RFC 5322 field names are printable ASCII without a colon or space."""
    if not _FIELD_NAME.fullmatch(name):
        raise HeaderError(f"not a valid header name: {name!r}")
    return name


def unstructured(name: str, value: str) -> str:
    """`Name: value` folded, RFC 2047-encoded when not ASCII, ending in CRLF."""
    value = _clean(value)
    if not value.isascii():
        encoded = Header(value, "utf-8", maxlinelen=MAX_LINE, header_name=name)
        return f"{name}: {encoded.encode(linesep=CRLF)}{CRLF}"
    return _fold(f"{name}:", _words(value.split(" ") if value else [""]))


def _fold(prefix: str, pieces: Sequence[tuple[str, str]]) -> str:
    """Greedy folding over (separator, word) pieces: a line keeps to 78 columns unless one word
    alone is longer; a fold keeps the separator's punctuation on the line it ends."""
    lines, current = [], prefix
    for index, (separator, word) in enumerate(pieces):
        piece = (" " if index == 0 else separator) + word
        if index and len(current) + len(piece) > MAX_LINE:
            lines.append(current + separator.rstrip())
            current = " " + word
        else:
            current += piece
    lines.append(current)
    return CRLF.join(lines) + CRLF


def _words(words: Sequence[str], separator: str = " ") -> list[tuple[str, str]]:
    return [(separator, word) for word in words]


def mailbox(name: str | None, address: str) -> str:
    address = _clean(address.strip())
    if not address.isascii() or not _ADDR_SPEC.fullmatch(address):
        raise HeaderError(f"not a valid address: {address!r}")
    return formataddr((_clean(name or ""), address), charset="utf-8")


def addresses(name: str, boxes: Sequence[tuple[str | None, str]]) -> str:
    """An address list, folded after its commas or between a display name and its address."""
    pieces: list[tuple[str, str]] = []
    for display, address in boxes:
        text = mailbox(display, address)
        phrase, _, angle = text.rpartition(" <")
        words = [phrase, f"<{angle}"] if phrase else [text]
        pieces += [(", " if pieces else " ", words[0]), *_words(words[1:])]
    return _fold(f"{name}:", pieces)


def with_params(name: str, value: str, params: Sequence[tuple[str, str]]) -> str:
    """`Content-Type: text/csv; name="x"`: parameters quoted, or RFC 2231 when not ASCII; a
    parameter that does not fit on the first line goes on its own folded line."""
    parts = [value] + [_param(key, _clean(text)) for key, text in params]
    return _fold(f"{name}:", _words([f"{p};" for p in parts[:-1]] + parts[-1:]))


def _param(key: str, value: str) -> str:
    if not value.isascii():
        return f"{key}*={encode_rfc2231(value, 'utf-8')}"
    if _TOKEN.fullmatch(value):
        return f'{key}="{value}"'
    return '{}="{}"'.format(key, value.replace("\\", "\\\\").replace('"', '\\"'))
