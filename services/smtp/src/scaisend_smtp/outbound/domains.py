"""The From domain's row (keys, return-path check) for each message, cached per (tenant, domain)
for a short TTL: every message needs it, and a rotation or a fresh DNS check reaches delivery
within the TTL. Signing with the retiring key a little longer is harmless: its DNS record stays
published while a rotation completes."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.crypto import SecretBox
from scaisend_core.errors import Conflict
from scaisend_core.models import EmailMessage, SenderDomain
from scaisend_core.repositories import sender_domains

MAX_ENTRIES = 10_000


class SenderDomains:
    def __init__(
        self,
        secrets: SecretBox,
        create_missing: bool,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secrets = secrets
        self._create_missing = create_missing
        self._ttl = ttl
        self._clock = clock
        self._rows: dict[tuple[str, str], tuple[float, SenderDomain | None]] = {}

    async def for_message(
        self, session: AsyncSession, message: EmailMessage
    ) -> SenderDomain | None:
        key = (message.tenant_id, sender_domains.domain_of(message.from_email))
        cached = self._rows.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        row = await self._load(session, *key)
        if self._ttl > 0:
            if len(self._rows) >= MAX_ENTRIES:
                self._rows.clear()
            self._rows[key] = (self._clock() + self._ttl, row)
        return row

    async def _load(
        self, session: AsyncSession, tenant_id: str, domain: str
    ) -> SenderDomain | None:
        row = await sender_domains.find_domain(session, tenant_id, domain)
        if row is not None or not self._create_missing:
            return row
        # Capture mode accepts any From domain: give it a key on first use (its records then
        # show up under /api/admin/domains, ready to publish before delivering for real).
        try:
            return await sender_domains.create_domain(
                session, self._secrets, tenant_id=tenant_id, domain=domain,
                return_path_host=f"bounces.{domain}",
            )  # fmt: skip
        except Conflict:  # another delivery made it first (only a savepoint was rolled back)
            return await sender_domains.find_domain(session, tenant_id, domain)
