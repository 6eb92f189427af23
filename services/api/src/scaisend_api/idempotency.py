"""Idempotency-Key on POST /v3/mail/send: the same key and body within 24 h get the first
response again; the same key with another body is 409. Keys are per tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.errors import IdempotencyConflict, ValidationFailed
from scaisend_core.models import IdempotencyKey
from scaisend_core.repositories import idempotency as repo

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed.single(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters long."
        )
    return key


async def replay(
    session: AsyncSession, tenant_id: str, key: str, request_hash: str, now: datetime
) -> StoredResponse | None:
    """The stored first response, None when the key is new (or its record expired and is
    dropped), or IdempotencyConflict when the key was used for a different body."""
    row = await repo.find_key(session, tenant_id, key)
    if row is None:
        return None
    if row.expires_at <= now:
        await repo.forget_key(session, row)
        return None
    return _stored(row, request_hash)


def _stored(row: IdempotencyKey, request_hash: str) -> StoredResponse:
    if row.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body"
        )
    return StoredResponse(row.response_status, row.response_body, row.response_headers)


async def remember(
    session: AsyncSession,
    tenant_id: str,
    key: str,
    request_hash: str,
    response: StoredResponse,
    now: datetime,
) -> None:
    """Raises repositories.idempotency.DuplicateKey when a concurrent request won the key."""
    await repo.remember_key(
        session,
        tenant_id=tenant_id,
        key=key,
        request_hash=request_hash,
        status=response.status,
        body=response.body,
        headers=response.headers,
        now=now,
        expires_at=now + KEEP_FOR,
    )
