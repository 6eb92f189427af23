"""The raw /v3/mail/send body: read with a size cap (413 beyond it), optionally gunzipped
(SendGrid accepts `Content-Encoding: gzip`), then decoded as UTF-8 JSON (400 otherwise)."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from starlette.requests import Request

from scaisend_core.errors import PayloadTooLarge, ValidationFailed

# Docs (tutorials/attachments-and-images): the serialized request, base64 included, <= 20 MB.
MAX_MAIL_BODY = 20 * 1024 * 1024
TOO_LARGE = "content too large"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(TOO_LARGE)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(TOO_LARGE)
    if request.headers.get("content-encoding", "").strip().lower() == "gzip":
        return _gunzip(bytes(data), limit)
    return bytes(data)


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValidationFailed.single("The request body is not valid gzip data.") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(TOO_LARGE)
    return out


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed.single("Invalid UTF8 in request") from None
        raise ValidationFailed.single(f"The request body is not valid JSON: {exc}") from None
