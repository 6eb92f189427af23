"""Attachments: validation (base64 content, filename, type, disposition, content_id) and
storage of their bytes in object storage, once per distinct content and tenant."""

from __future__ import annotations

import binascii
import hashlib
import re
from typing import Any

from scaisend_api.services.mail.model import Attachment
from scaisend_api.services.mail.rules import Checker, path
from scaisend_core.storage import Storage

MAX_ATTACHMENTS = 10
MAX_FILENAME = 255
DISPOSITIONS = ("attachment", "inline")
_FORBIDDEN = re.compile(r"[;,\r\n]")
_WHITESPACE = str.maketrans("", "", " \t\r\n")


def storage_key(tenant_id: str, sha256: str) -> str:
    """Content-addressed per tenant: the same file on 1000 messages is stored once."""
    return f"attachments/{tenant_id}/{sha256}"


async def store_attachments(storage: Storage, tenant_id: str, items: list[Attachment]) -> None:
    """Write each distinct content before the rows that point at it are committed."""
    written: set[str] = set()
    for item in items:
        if item.sha256 not in written:
            await storage.put(storage_key(tenant_id, item.sha256), item.content, item.type)
            written.add(item.sha256)


def check_attachments(c: Checker, value: Any) -> list[Attachment]:
    at = "attachments"
    if value is None or not c.of_type(value, list, "array", at):
        return []
    if len(value) > MAX_ATTACHMENTS:
        c.fail(
            f"There is a limit of {MAX_ATTACHMENTS} attachments per email. You provided {len(value)}.",
            at,
        )
        return []
    out = []
    for i, item in enumerate(value):
        if c.of_type(item, dict, "object", path(at, i)) and (parsed := _attachment(c, item, i)):
            out.append(parsed)
    return out


def _attachment(c: Checker, item: dict[str, Any], index: int) -> Attachment | None:
    at = path("attachments", index)
    before = len(c.errors)
    content = _content(c, item.get("content"), path(at, "content"))
    filename = item.get("filename")
    if not isinstance(filename, str) or not filename:
        c.fail("filename is required.", path(at, "filename"))
    elif len(filename) > MAX_FILENAME or _FORBIDDEN.search(filename):
        c.fail(
            "The attachment filename must be at most 255 characters and cannot contain ';', "
            "',', CR or LF.",
            path(at, "filename"),
        )
    mime = _token(c, item.get("type"), path(at, "type"), "type") or "application/octet-stream"
    disposition = item.get("disposition") or "attachment"
    if disposition not in DISPOSITIONS:
        c.fail(
            'The disposition of your attachment can be either "inline" or "attachment".',
            path(at, "disposition"),
        )
    content_id = _token(c, item.get("content_id"), path(at, "content_id"), "content_id")
    if disposition == "inline" and not content_id:
        c.fail(
            "The content_id parameter is required if your attachment is inline.",
            path(at, "content_id"),
        )
    if len(c.errors) != before or content is None:
        return None
    digest = hashlib.sha256(content).hexdigest()
    return Attachment(content, str(filename), mime, str(disposition), content_id, digest)


def _content(c: Checker, value: Any, at: str) -> bytes | None:
    if not isinstance(value, str) or not value:
        c.fail("The attachment content is required.", at)
        return None
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        pass
    try:  # MIME-style line-wrapped base64 is still base64
        return binascii.a2b_base64(value.translate(_WHITESPACE), strict_mode=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        c.fail("The attachment content must be base64 encoded.", at)
        return None


def _token(c: Checker, value: Any, at: str, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or _FORBIDDEN.search(value):
        c.fail(f"The attachment {what} must be a string without ';', ',', CR or LF.", at)
        return None
    return value
