"""Validation of a /v3/mail/send body, as documented (reference/mail-send, sendgrid-v3 §2.1-2.2):
every failure is collected, with SendGrid's messages and dotted field paths, so one 400 lists
them all. The result also names the references (template, batch, ASM groups) to look up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scaisend_api.services.mail.attachments import check_attachments
from scaisend_api.services.mail.model import Address, MailRequest, Personalization
from scaisend_api.services.mail.personalizations import (
    check_personalizations,
    check_send_at,
    check_size,
)
from scaisend_api.services.mail.rules import Checker, has_crlf, path
from scaisend_api.services.mail.settings_rules import check_mail_settings, check_tracking_settings
from scaisend_core.errors import FieldError

MAX_SCHEDULE_AHEAD = 72 * 3600
TOO_FAR_AHEAD = "Scheduling more than 72 hours in advance is forbidden."
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_REPLY_TO = 1000
MAX_GROUPS_TO_DISPLAY = 25
CONTENT_RANK = {"text/plain": 0, "text/x-amp-html": 1, "text/html": 1}
FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    'email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined."
)
CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must be at "
    "least one defined content block. We typically suggest both text/plain and text/html blocks "
    "are included, but only one block is required."
)
CONTENT_ORDER = (
    "Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your "
    "email: text/plain needs to be first, followed by text/html, followed by any other content."
)


@dataclass(slots=True)
class Checked:
    """The request when valid, else every error; references are named either way so their
    existence can be checked and reported in the same response."""

    request: MailRequest | None
    errors: list[FieldError]
    template_id: str | None = None
    batch_id: str | None = None
    asm_group_ids: list[int] = field(default_factory=list)


def check_mail(body: Any, now: int) -> Checked:
    c = Checker()
    if not isinstance(body, dict):
        c.of_type(body, dict, "object", None)
        return Checked(None, c.errors)
    fields: dict[str, Any] = {}
    fields |= _envelope(c, body)
    fields |= _body(c, body)
    fields |= _metadata(c, body, fields["personalizations"])
    fields |= _delivery(c, body, fields["personalizations"], now)
    asm_ids = [g for g in [fields["asm_group_id"], *fields["asm_groups_to_display"]] if g]
    request = MailRequest(**fields) if not c.errors and fields["from_"] else None
    return Checked(request, c.errors, fields["template_id"], fields["batch_id"], asm_ids)


def _envelope(c: Checker, body: dict[str, Any]) -> dict[str, Any]:
    personalizations = check_personalizations(c, body.get("personalizations"))
    sender = None
    if body.get("from") is None:
        c.fail(FROM_REQUIRED, "from")
    elif parsed := c.address(body["from"], "from", "from"):
        sender = Address(*parsed)
    return {"personalizations": personalizations, "from_": sender, "reply_to": _reply_to(c, body)}


def _reply_to(c: Checker, body: dict[str, Any]) -> list[Address]:
    single, many = body.get("reply_to"), body.get("reply_to_list")
    if single is not None and many is not None:
        c.fail("reply_to and reply_to_list are mutually exclusive; use one.", "reply_to_list")
        return []
    if single is not None:
        parsed = c.address(single, "reply_to", "reply_to")
        return [Address(*parsed)] if parsed else []
    if many is None or not c.of_type(many, list, "array", "reply_to_list"):
        return []
    if len(many) > MAX_REPLY_TO:
        c.fail("The reply_to_list may contain at most 1000 addresses.", "reply_to_list")
        return []
    out, seen = [], set()
    for i, item in enumerate(many):
        if parsed := c.address(item, path("reply_to_list", i), "reply_to_list"):
            if parsed[0].lower() in seen:
                c.fail(
                    "The reply_to_list addresses must be unique.", path("reply_to_list", i, "email")
                )
            seen.add(parsed[0].lower())
            out.append(Address(*parsed))
    return out


def _body(c: Checker, body: dict[str, Any]) -> dict[str, Any]:
    template_id = body.get("template_id")
    if template_id is not None:
        if not c.of_type(template_id, str, "string", "template_id"):
            template_id = None
        elif not template_id.startswith("d-"):
            c.fail("The template_id must start with 'd-'", "template_id")
            template_id = None
    has_template = body.get("template_id") is not None
    content = _content(c, body.get("content"), has_template=has_template)
    return {
        "template_id": template_id,
        "content": content,
        "subject": _subject(c, body, has_template=has_template),
        "attachments": check_attachments(c, body.get("attachments")),
    }


def _content(c: Checker, value: Any, *, has_template: bool) -> list[dict[str, str]]:
    if value is None or value == []:
        if not has_template:
            c.fail(CONTENT_REQUIRED, "content")
        return []
    if has_template:
        c.fail(
            "content and template_id are mutually exclusive: the template supplies the content.",
            "content",
        )
        return []
    if not c.of_type(value, list, "array", "content"):
        return []
    out: list[dict[str, str]] = []
    for i, item in enumerate(value):
        if not c.of_type(item, dict, "object", path("content", i)):
            continue
        kind, text = item.get("type"), item.get("value")
        if not isinstance(kind, str) or not kind or has_crlf(kind) or ";" in kind or "," in kind:
            c.fail(
                "The content type must be a string at least one character in length.",
                path("content", i, "type"),
            )
        elif not isinstance(text, str) or not text:
            c.fail(
                "The content value must be a string at least one character in length.",
                path("content", i, "value"),
            )
        else:
            out.append({"type": kind, "value": text})
    ranks = [CONTENT_RANK.get(item["type"].lower(), 2) for item in out]
    if ranks != sorted(ranks):
        c.fail(CONTENT_ORDER, "content")
    return out


def _subject(c: Checker, body: dict[str, Any], *, has_template: bool) -> str | None:
    subject = body.get("subject")
    if subject is not None:
        return c.text(subject, "subject")
    raw = body.get("personalizations")
    everyone_has_one = isinstance(raw, list) and all(
        isinstance(p, dict) and isinstance(p.get("subject"), str) and p["subject"] for p in raw
    )
    if not has_template and not everyone_has_one:
        c.fail(SUBJECT_REQUIRED, "subject")
    return None


def _metadata(c: Checker, body: dict[str, Any], ps: list[Personalization]) -> dict[str, Any]:
    headers = c.headers(body["headers"], "headers") if body.get("headers") is not None else None
    custom_args: dict[str, str] = {}
    if body.get("custom_args") is not None:
        custom_args = c.string_map(body["custom_args"], "custom_args", "custom_args") or {}
    _custom_args_size(c, custom_args, ps)
    sections = None
    if body.get("sections") is not None:
        sections = c.string_map(body["sections"], "sections", "sections")
    return {
        "headers": headers or {},
        "categories": _categories(c, body.get("categories")),
        "custom_args": custom_args,
        "sections": sections or {},
    }


def _custom_args_size(c: Checker, top: dict[str, str], ps: list[Personalization]) -> None:
    before = len(c.errors)
    check_size(c, top, "custom_args", "custom_args")
    if len(c.errors) != before:
        return
    for p in ps:
        merged = top | p.custom_args
        check_size(c, merged, path("personalizations", p.index, "custom_args"), "custom_args")


def _categories(c: Checker, value: Any) -> list[str]:
    if value is None or not c.of_type(value, list, "array", "categories"):
        return []
    if len(value) > MAX_CATEGORIES:
        c.fail(
            f"There is a limit of 10 categories for each email that is sent. You provided {len(value)} categories.",
            "categories",
        )
        return []
    seen: set[str] = set()
    for i, item in enumerate(value):
        at = path("categories", i)
        if not c.of_type(item, str, "string", at):
            continue
        if len(item) > MAX_CATEGORY_LENGTH:
            c.fail("A category cannot have more than 255 characters.", at)
        elif not item.isascii() or has_crlf(item):
            c.fail("Categories must be ASCII text without CR or LF characters.", at)
        elif item in seen:
            c.fail(f"Categories must be unique; {item!r} is given more than once.", at)
        seen.add(item)
    return list(value)


def _delivery(
    c: Checker, body: dict[str, Any], ps: list[Personalization], now: int
) -> dict[str, Any]:
    send_at = (
        check_send_at(c, body["send_at"], "send_at") if body.get("send_at") is not None else None
    )
    latest = now + MAX_SCHEDULE_AHEAD
    if send_at is not None and send_at > latest:
        c.fail(TOO_FAR_AHEAD, "send_at")
    for p in ps:  # the field path is only built for a personalization that fails
        if p.send_at is not None and p.send_at > latest:
            c.fail(TOO_FAR_AHEAD, path("personalizations", p.index, "send_at"))
    batch_id = body.get("batch_id")
    if batch_id is not None and (c.text(batch_id, "batch_id", max_length=64) is None):
        batch_id = None
    pool = body.get("ip_pool_name")
    if pool is not None and (
        not isinstance(pool, str) or not 2 <= len(pool) <= 64 or has_crlf(pool)
    ):
        c.fail("The IP Pool name must be a string of 2 to 64 characters.", "ip_pool_name")
    return {
        "send_at": send_at,
        "batch_id": batch_id,
        "ip_pool_name": pool if isinstance(pool, str) else None,
        "mail_settings": check_mail_settings(c, body.get("mail_settings")),
        "tracking_settings": check_tracking_settings(c, body.get("tracking_settings")),
        **_asm(c, body.get("asm")),
    }


def _asm(c: Checker, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"asm_group_id": None, "asm_groups_to_display": []}
    if value is None or not c.of_type(value, dict, "object", "asm"):
        return out
    group_id = value.get("group_id")
    if not isinstance(group_id, int) or isinstance(group_id, bool) or group_id <= 0:
        c.fail("The asm group_id is required and must be a positive integer.", "asm.group_id")
    else:
        out["asm_group_id"] = group_id
    shown = value.get("groups_to_display")
    if shown is None or not c.of_type(shown, list, "array", "asm.groups_to_display"):
        return out
    if len(shown) > MAX_GROUPS_TO_DISPLAY:
        c.fail("The groups_to_display may list at most 25 groups.", "asm.groups_to_display")
    elif not all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in shown):
        c.fail("The groups_to_display must be positive integer group ids.", "asm.groups_to_display")
    else:
        out["asm_groups_to_display"] = list(shown)
    return out
