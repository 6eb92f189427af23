"""Validation primitives for /v3/mail/send: a Checker that collects every failure (SendGrid
reports all at once) with SendGrid's dotted field paths, plus the shared value checks."""

from __future__ import annotations

import re
from typing import Any

from scaisend_core.errors import FieldError

MAX_EMAIL_LENGTH = 320
MAX_LOCAL_PART = 64
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\u0080-\U0010ffff-]{0,61}[A-Za-z0-9\u0080-\U0010ffff])?"
_EMAIL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_LABEL}$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without space or colon
_CRLF = re.compile(r"[\r\n]")
# SendGrid's reserved names, plus the correlation header ScaiSend itself sets.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
        "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
        "x-scaisend-message-id",
    }
)  # fmt: skip


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_email(value: str) -> bool:
    if len(value) > MAX_EMAIL_LENGTH or value.find("@") > MAX_LOCAL_PART:
        return False
    return bool(_EMAIL.match(value)) and not value.rpartition(".")[2].isdigit()


def has_crlf(value: str) -> bool:
    return bool(_CRLF.search(value))


def path(*parts: str | int) -> str:
    return ".".join(map(str, parts))


class Checker:
    """Collects FieldErrors; each check returns the cleaned value or None when it failed."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, message: str, field: str | None) -> None:
        self.errors.append(FieldError(message, field))

    def of_type(
        self, value: Any, expected: type | tuple[type, ...], name: str, at: str | None
    ) -> bool:
        ok = isinstance(value, expected) and not (
            isinstance(value, bool) and bool not in _as_tuple(expected)
        )
        if not ok:
            self.fail(f"Invalid type. Expected: {name}, given: {json_type(value)}.", at)
        return ok

    def text(self, value: Any, at: str, *, max_length: int | None = None) -> str | None:
        """A non-empty string without CR/LF (it ends up in a header)."""
        if not self.of_type(value, str, "string", at):
            return None
        if not value:
            self.fail("The value must be a string at least one character in length.", at)
        elif has_crlf(value):
            self.fail("The value may not contain CR or LF characters.", at)
        elif max_length is not None and len(value) > max_length:
            self.fail(f"The value may be at most {max_length} characters long.", at)
        else:
            return str(value)
        return None

    def boolean(self, value: Any, at: str, label: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.fail(f"The {label} enable param should be a boolean value.", at)
        return None

    def string_map(self, value: Any, at: str, what: str) -> dict[str, str] | None:
        """A JSON object whose values are all strings (custom_args, substitutions, sections)."""
        if not self.of_type(value, dict, "object", at):
            return None
        bad = [key for key, item in value.items() if not isinstance(item, str)]
        for key in bad:
            self.fail(f"The {what} values must be strings.", path(at, key))
        return None if bad else value

    def headers(self, value: Any, at: str) -> dict[str, str] | None:
        if not self.of_type(value, dict, "object", at):
            return None
        ok, seen = True, set[str]()
        for name, item in value.items():
            ok = self._header(name, item, path(at, name), seen) and ok
        return value if ok else None

    def _header(self, name: str, item: Any, at: str, seen: set[str]) -> bool:
        lowered = name.lower()
        if not _HEADER_NAME.match(name):
            self.fail("Header names must be ASCII, without spaces or colons.", at)
        elif lowered in RESERVED_HEADERS:
            self.fail("Header can not be one of the reserved keys.", at)
        elif lowered in seen:
            self.fail("Header names must be unique (compared case-insensitively).", at)
        elif not isinstance(item, str):
            self.fail("Header values must be strings.", at)
        elif has_crlf(item):
            self.fail("Header values may not contain CR or LF characters.", at)
        else:
            seen.add(lowered)
            return True
        return False

    def address(self, value: Any, at: str, role: str) -> tuple[str, str | None] | None:
        """An `{email, name?}` object; `role` names it in messages (to, cc, bcc, from …)."""
        if not self.of_type(value, dict, "object", at):
            return None
        email, name = value.get("email"), value.get("name")
        ok = True
        if email is None or email == "":
            self.fail(f"The {role} email parameter is required.", path(at, "email"))
            ok = False
        elif not isinstance(email, str) or not is_email(email):
            self.fail("Does not contain a valid address.", path(at, "email"))
            ok = False
        if name is not None and (not isinstance(name, str) or has_crlf(name)):
            self.fail("The name must be a string without CR or LF characters.", path(at, "name"))
            ok = False
        return (email, name or None) if ok else None


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)
