"""API keys: create (secret shown once), list, read, update, revoke, rotate; no privilege
escalation: a caller can grant only scopes it holds, and a test key can only manage test keys
(else a sandboxed credential could mint a live one)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.auth import Principal
from scaisend_api.schemas.api_keys import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyReplace,
    ApiKeyUpdate,
)
from scaisend_core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from scaisend_core.models import ApiKey, utcnow
from scaisend_core.permissions import unknown_permissions
from scaisend_core.repositories import api_keys as repo


def _check_grantable(principal: Principal, scopes: Iterable[str], environment: str) -> None:
    scopes = list(scopes)
    if unknown := unknown_permissions(scopes):
        raise ValidationFailed.single(f"Unknown scope(s): {', '.join(unknown)}", "scopes")
    if missing := sorted(set(scopes) - principal.permissions):
        raise PermissionDenied(f"Cannot grant scopes you do not have: {', '.join(missing)}")
    if principal.environment == "test" and environment != "test":
        raise PermissionDenied("A test key can only manage test keys")


async def _get(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    row = await repo.get_api_key(session, principal.tenant_id, key_id)
    if row is None:
        raise NotFound(f"API key not found: {key_id}")
    return row


def _writable(principal: Principal, row: ApiKey) -> None:
    if row.revoked_at is not None:
        raise InvalidState("API key is revoked", current="revoked")
    if principal.environment == "test" and row.environment != "test":
        raise PermissionDenied("A test key can only manage test keys")


async def create_key(
    session: AsyncSession, principal: Principal, body: ApiKeyCreate
) -> ApiKeyCreated:
    _check_grantable(principal, body.scopes, body.environment)
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ValidationFailed.single("expires_at must be in the future", "expires_at")
    minted = await repo.create_api_key(
        session,
        tenant_id=principal.tenant_id,
        name=body.name,
        scopes=body.scopes,
        environment=body.environment,
        expires_at=body.expires_at,
        created_by=principal.user_id or principal.credential_id,
    )
    await session.commit()
    return ApiKeyCreated.of(minted.row, minted.secret)


async def list_keys(
    session: AsyncSession, principal: Principal, include_revoked: bool
) -> list[ApiKeyOut]:
    rows = await repo.list_api_keys(session, principal.tenant_id, include_revoked=include_revoked)
    return [ApiKeyOut.of(row) for row in rows]


async def get_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKeyOut:
    return ApiKeyOut.of(await _get(session, principal, key_id))


async def update_key(
    session: AsyncSession, principal: Principal, key_id: str, body: ApiKeyUpdate | ApiKeyReplace
) -> ApiKeyOut:
    row = await _get(session, principal, key_id)
    _writable(principal, row)
    if body.scopes is not None:
        _check_grantable(principal, body.scopes, row.environment)
    await repo.update_api_key(session, row, name=body.name, scopes=body.scopes)
    await session.commit()
    return ApiKeyOut.of(row)


async def revoke_key(session: AsyncSession, principal: Principal, key_id: str) -> None:
    """Idempotent: revoking a revoked key is a no-op."""
    row = await _get(session, principal, key_id)
    if principal.environment == "test" and row.environment != "test":
        raise PermissionDenied("A test key can only manage test keys")
    await repo.revoke_api_key(session, row, utcnow())
    await session.commit()


async def rotate_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKeyCreated:
    """Handing out a new secret of a key is granting its scopes: the caller must hold them."""
    row = await _get(session, principal, key_id)
    _writable(principal, row)
    if missing := sorted(set(row.scopes) - principal.permissions):
        raise PermissionDenied(
            f"Cannot rotate a key with scopes you do not have: {', '.join(missing)}"
        )
    secret = await repo.replace_secret(session, row)
    await session.commit()
    return ApiKeyCreated.of(row, secret)
