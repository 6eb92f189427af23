"""Validation of `personalizations[]`: recipients (unique within a personalization across
to/cc/bcc), per-personalization overrides, and the request-wide recipient cap."""

from __future__ import annotations

from typing import Any

from scaisend_api.services.mail.model import Address, Personalization
from scaisend_api.services.mail.rules import Checker, path

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_MAP_BYTES = 10_000
TO_REQUIRED = (
    "The to array is required for all personalization objects, and must have at least one "
    "email object with a valid email address."
)


def check_personalizations(c: Checker, value: Any) -> list[Personalization]:
    at = "personalizations"
    if value is None:
        c.fail(
            "The personalizations field is required and must have at least one personalization.", at
        )
        return []
    if not c.of_type(value, list, "array", at):
        return []
    if not value:
        c.fail("You must have at least one personalization.", at)
        return []
    if len(value) > MAX_PERSONALIZATIONS:
        c.fail(
            "The personalization block is limited to 1000 personalizations per API request. "
            f"You have provided {len(value)} personalizations. Please consider splitting this "
            "into multiple requests and resending your request.",
            at,
        )
        return []
    out = [p for i, item in enumerate(value) if (p := _personalization(c, item, i)) is not None]
    if sum(p.recipient_count for p in out) > MAX_RECIPIENTS:
        c.fail("There is a limit of 1000 total recipients (to + cc + bcc) per request.", at)
    return out


def _personalization(c: Checker, item: Any, index: int) -> Personalization | None:
    at = path("personalizations", index)
    if not c.of_type(item, dict, "object", at):
        return None
    before = len(c.errors)
    seen: set[str] = set()
    p = Personalization(index=index, to=_recipients(c, item.get("to"), at, "to", seen))
    if item.get("to") in (None, []):  # a wrong type or bad entries already have their errors
        c.fail(TO_REQUIRED, path(at, "to"))
    p.cc = _recipients(c, item.get("cc"), at, "cc", seen)
    p.bcc = _recipients(c, item.get("bcc"), at, "bcc", seen)
    _overrides(c, item, at, p)
    return p if len(c.errors) == before else None


def _recipients(c: Checker, value: Any, at: str, kind: str, seen: set[str]) -> list[Address]:
    if value is None:
        return []
    if not c.of_type(value, list, "array", path(at, kind)):
        return []
    out = []
    for i, entry in enumerate(value):
        where = path(at, kind, i)
        parsed = c.address(entry, where, kind)
        if parsed is None:
            continue
        lowered = parsed[0].lower()
        if lowered in seen:
            c.fail(
                "Each email address in the personalization block should be unique between to, "
                f"cc, and bcc. We found the first duplicate instance of [{parsed[0]}] in the "
                f"{at}.{kind} field.",
                path(where, "email"),
            )
            continue
        seen.add(lowered)
        out.append(Address(*parsed))
    return out


def _overrides(c: Checker, item: dict[str, Any], at: str, p: Personalization) -> None:
    if (subject := item.get("subject")) is not None:
        p.subject = c.text(subject, path(at, "subject"))
    if (headers := item.get("headers")) is not None:
        p.headers = c.headers(headers, path(at, "headers")) or {}
    if (subs := item.get("substitutions")) is not None:
        p.substitutions = c.string_map(subs, path(at, "substitutions"), "substitution") or {}
        check_size(c, p.substitutions, path(at, "substitutions"), "substitutions")
    data = item.get("dynamic_template_data")
    if data is not None and c.of_type(data, dict, "object", path(at, "dynamic_template_data")):
        p.dynamic_template_data = data
    if (args := item.get("custom_args")) is not None:
        p.custom_args = c.string_map(args, path(at, "custom_args"), "custom_args") or {}
    if (send_at := item.get("send_at")) is not None:
        p.send_at = check_send_at(c, send_at, path(at, "send_at"))
    if (sender := item.get("from")) is not None:
        parsed = c.address(sender, path(at, "from"), "from")
        p.from_ = Address(*parsed) if parsed else None


def check_send_at(c: Checker, value: Any, at: str) -> int | None:
    if not c.of_type(value, int, "integer", at):
        return None
    if value < 0:
        c.fail("send_at must be a Unix timestamp (seconds since 1970).", at)
        return None
    return int(value)


def check_size(c: Checker, mapping: dict[str, str], at: str, what: str) -> None:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())
    if size > MAX_MAP_BYTES:
        c.fail(f"The {what} may not exceed {MAX_MAP_BYTES:,} bytes; you provided {size:,}.", at)
