"""Who is calling: bearer credentials resolved to a tenant-scoped Principal.

Resolvers are pluggable: API keys today, ScaiKey JWTs through the same interface. A key is looked
up on every request (revocation is immediate), concurrent lookups sharing one statement; its
last-use time is batched in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from scaisend_api.batching import Batcher
from scaisend_core.crypto import sha256_hex
from scaisend_core.db import Reads, SessionFactory
from scaisend_core.errors import AuthenticationFailed, TenantSuspended
from scaisend_core.models import TenantStatus, utcnow
from scaisend_core.repositories.api_keys import (
    KeyGrant,
    grants_by_hash,
    looks_like_api_key,
    touch_last_used,
)

log = logging.getLogger(__name__)
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    permissions: frozenset[str]
    kind: Literal["api_key", "jwt"]
    credential_id: str
    environment: Literal["live", "test"] = "live"
    user_id: str | None = None

    @property
    def forces_sandbox(self) -> bool:
        """A test key can never send live (docs: concepts/sandbox-vs-live)."""
        return self.environment == "test"

    def has(self, permission: str) -> bool:
        return permission in self.permissions


class CredentialResolver(Protocol):
    def accepts(self, token: str) -> bool: ...
    async def resolve(self, token: str) -> Principal: ...


class ApiKeyResolver:
    """Looks every presented key up in the database (never a cache), so a revoked or expired
    key, or a suspended tenant, is refused on the next request. Concurrent requests share one
    lookup statement (batching.py): each is answered by a read that started after it arrived."""

    def __init__(self, tracker: LastUsedTracker, reads: Reads) -> None:
        self._tracker = tracker
        self._reads = reads
        self._lookups: Batcher[str, KeyGrant | None] = Batcher(self._lookup, "api-key-lookup")

    def accepts(self, token: str) -> bool:
        return looks_like_api_key(token)

    async def resolve(self, token: str) -> Principal:
        grant = await self._lookups.run(sha256_hex(token))
        if grant is None or not grant.usable:
            raise AuthenticationFailed("Invalid API key")
        if grant.tenant_status == TenantStatus.SUSPENDED:
            raise TenantSuspended()
        self._tracker.record(grant.id, utcnow())
        return Principal(
            tenant_id=grant.tenant_id,
            permissions=grant.scopes,
            kind="api_key",
            credential_id=grant.id,
            environment="test" if grant.environment == "test" else "live",
        )

    async def _lookup(self, key_hashes: list[str]) -> list[KeyGrant | None]:
        grants = await grants_by_hash(self._reads, key_hashes, utcnow())
        return [grants.get(key_hash) for key_hash in key_hashes]


class UnconfiguredJwtResolver:
    """Without SCAIKEY_* there is no identity provider to trust; say so instead of 'invalid'."""

    def accepts(self, token: str) -> bool:
        return bool(_JWT_SHAPE.match(token))

    async def resolve(self, token: str) -> Principal:
        raise AuthenticationFailed(
            "JWT authentication is not configured on this server (SCAIKEY_JWKS_URL is unset); "
            "use an API key"
        )


@dataclass
class Authenticator:
    resolvers: list[CredentialResolver]

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationFailed("Missing Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        token = token.strip()
        for resolver in self.resolvers:
            if resolver.accepts(token):
                return await resolver.resolve(token)
        raise AuthenticationFailed("Invalid API key")


@dataclass
class LastUsedTracker:
    """Collects key use in memory; a lifespan task writes it every few seconds."""

    sessions: SessionFactory
    interval: float
    _pending: dict[str, datetime] = field(default_factory=dict)

    def record(self, key_id: str, when: datetime) -> None:
        self._pending[key_id] = when

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            async with self.sessions() as session:
                await touch_last_used(session, batch)
                await session.commit()
        except Exception:  # bookkeeping must never break the API; the next flush retries
            log.warning("could not record API key last use", exc_info=True)
            for key_id, when in batch.items():
                self._pending.setdefault(key_id, when)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
