"""May this tenant send live mail from this domain: read on every send (a domain unverified or
deactivated a moment ago is refused at once), concurrent sends sharing one statement."""

from __future__ import annotations

from scaisend_api.batching import Batcher
from scaisend_core.db import Reads
from scaisend_core.repositories.sender_domains import may_send_from


class SenderDomains:
    """One per process (the lifespan owns it, beside the other connections)."""

    def __init__(self, reads: Reads) -> None:
        self._reads = reads
        self._checks: Batcher[tuple[str, str], bool] = Batcher(self._check, "sender-domain-check")

    async def verified(self, tenant_id: str, domain: str) -> bool:
        """The tenant has this exact domain, verified and active."""
        return await self._checks.run((tenant_id, domain))

    async def _check(self, pairs: list[tuple[str, str]]) -> list[bool]:
        return await may_send_from(self._reads, pairs)
