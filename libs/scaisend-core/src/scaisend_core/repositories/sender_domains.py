"""Sender domains on the send path: may this tenant send live mail from this domain?"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import SenderDomain


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


async def sending_domain_for(
    session: AsyncSession, tenant_id: str, from_email: str
) -> SenderDomain | None:
    """The verified, active domain row that authorises `from_email`, else None.

    Exact match only: a verified example.com does not authorise mail.example.com (DKIM's d= and
    DMARC alignment are per domain; each sending subdomain is added and verified on its own)."""
    statement = select(SenderDomain).where(
        col(SenderDomain.tenant_id) == tenant_id,
        col(SenderDomain.domain) == domain_of(from_email),
        col(SenderDomain.verified).is_(True),
        col(SenderDomain.is_active).is_(True),
    )
    return (await session.exec(statement)).first()
