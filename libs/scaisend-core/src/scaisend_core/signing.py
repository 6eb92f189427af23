"""Signing material for a message's From domain (decrypted DKIM keys, selectors, algorithms),
cached in process.

The cache key includes the stored ciphertexts, so a rotation (or a new Ed25519 key) is a cache
miss in every process that reads the row afterwards, with no message passing; `invalidate`
drops a domain at once in the process that changed it. Keys are decrypted and parsed once per
key, not once per message (parsing an RSA key costs far more than signing with it)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core import dkim_keys
from scaisend_core.crypto import SecretBox
from scaisend_core.models import SenderDomain
from scaisend_core.repositories.sender_domains import domain_of, find_domain

DEFAULT_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class DkimKey:
    selector: str
    algorithm: dkim_keys.Algorithm
    private_key: dkim_keys.PrivateKey

    def __repr__(self) -> str:  # never let a key reach a log line through a repr
        return f"DkimKey(selector={self.selector!r}, algorithm={self.algorithm!r})"


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    domain_id: str
    domain: str
    keys: tuple[DkimKey, ...]  # RSA first; Ed25519 second once its record verified


class SigningKeys:
    """An LRU of decrypted keys per sender domain; one instance per process (worker ctx)."""

    def __init__(self, secrets: SecretBox, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self._secrets = secrets
        self._max = max_entries
        self._cache: OrderedDict[tuple[str, str], SigningMaterial] = OrderedDict()

    async def for_sender(
        self, session: AsyncSession, tenant_id: str, from_email: str
    ) -> SigningMaterial | None:
        """Keys for the tenant's row of the From domain (exact match), whatever its
        verification state: a message accepted earlier is still signed with the domain's key."""
        row = await find_domain(session, tenant_id, domain_of(from_email))
        return None if row is None else self.material(row)

    def material(self, row: SenderDomain) -> SigningMaterial:
        key = (row.id, _fingerprint(row))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        self.invalidate(row.id)
        material = SigningMaterial(row.id, row.domain, self._decrypt(row))
        self._cache[key] = material
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return material

    def invalidate(self, domain_id: str) -> None:
        for stale in [k for k in self._cache if k[0] == domain_id]:
            del self._cache[stale]

    def _decrypt(self, row: SenderDomain) -> tuple[DkimKey, ...]:
        keys = [self._key(row, row.dkim_selector, row.dkim_algorithm, row.dkim_private_key)]
        if row.ed25519_selector and row.ed25519_private_key and _ed25519_verified(row):
            keys.append(
                self._key(row, row.ed25519_selector, "ed25519-sha256", row.ed25519_private_key)
            )
        return tuple(keys)

    def _key(self, row: SenderDomain, selector: str, algorithm: str, sealed: str) -> DkimKey:
        pem = self._secrets.decrypt(sealed, context=row.id)
        return DkimKey(
            selector=selector,
            algorithm="ed25519-sha256" if algorithm.startswith("ed25519") else "rsa-sha256",
            private_key=dkim_keys.load_private_key(pem),
        )


def _ed25519_verified(row: SenderDomain) -> bool:
    check = (row.dns_checks or {}).get("dkim_ed25519") or {}
    return bool(check.get("valid"))


def _fingerprint(row: SenderDomain) -> str:
    """Changes whenever the keys that would sign change (rotation, Ed25519 record verified)."""
    parts = [row.dkim_selector, row.dkim_private_key, str(_ed25519_verified(row))]
    parts += [row.ed25519_selector or "", row.ed25519_private_key or ""]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
