"""Idempotency-Key records: the first response to a (tenant, key), kept for replay. The row is
written in the same transaction as the work it describes, and the unique (tenant_id, key)
constraint makes a concurrent duplicate fail instead of doing the work twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.errors import Conflict
from scaisend_core.ids import new_id
from scaisend_core.models import IdempotencyKey


class DuplicateKey(Conflict):
    """Another request with the same key committed first (or is committing right now)."""


async def find_key(session: AsyncSession, tenant_id: str, key: str) -> IdempotencyKey | None:
    statement = select(IdempotencyKey).where(
        col(IdempotencyKey.tenant_id) == tenant_id, col(IdempotencyKey.key) == key
    )
    return (await session.exec(statement)).first()


async def forget_key(session: AsyncSession, row: IdempotencyKey) -> None:
    """An expired record frees its key for new use."""
    await session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.id) == row.id))


async def remember_key(
    session: AsyncSession,
    *,
    tenant_id: str,
    key: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    now: datetime,
    expires_at: datetime,
) -> None:
    """Insert first in the transaction: a concurrent duplicate blocks on the unique index until
    the winner commits, then fails here with DuplicateKey, before it writes anything else."""
    row = IdempotencyKey(
        id=new_id("idem"),
        tenant_id=tenant_id,
        key=key,
        request_hash=request_hash,
        response_status=status,
        response_body=body,
        response_headers=headers,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise DuplicateKey(f"Idempotency-Key {key!r} is already in use") from exc
