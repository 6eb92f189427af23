"""Sender domains: may this tenant send live mail from this domain, and the rows behind the
domains API, signing and the periodic DNS re-check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core import dkim_keys
from scaisend_core.crypto import SecretBox
from scaisend_core.db import Reads
from scaisend_core.errors import Conflict
from scaisend_core.ids import new_id
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


_MAY_SEND = (
    "EXISTS (SELECT 1 FROM sender_domains WHERE tenant_id = :t{i} AND domain = :d{i}"
    " AND verified = 1 AND is_active = 1)"
)


async def may_send_from(reads: Reads, pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """For each (tenant_id, domain): `sending_domain_for(...) is not None`, the same rule
    (exact domain, verified, active) as indexed existence checks in one statement, without
    loading rows and their encrypted DKIM keys through the ORM on every send."""
    distinct = sorted(set(pairs))
    if not distinct:
        return []
    params: dict[str, object] = {}
    for i, (tenant_id, domain) in enumerate(distinct):
        params[f"t{i}"], params[f"d{i}"] = tenant_id, domain
    row = await reads.first(_may_send_statement(len(distinct)), params)
    assert row is not None  # a SELECT without FROM always has its one row
    allowed = {pair: bool(flag) for pair, flag in zip(distinct, row, strict=True)}
    return [allowed[pair] for pair in pairs]


@lru_cache(maxsize=64)
def _may_send_statement(count: int) -> str:
    return "SELECT " + ", ".join(_MAY_SEND.format(i=i) for i in range(count))


async def find_domain(session: AsyncSession, tenant_id: str, domain: str) -> SenderDomain | None:
    """The tenant's row for exactly this domain, whatever its state (signing uses it)."""
    statement = select(SenderDomain).where(
        col(SenderDomain.tenant_id) == tenant_id, col(SenderDomain.domain) == domain
    )
    return (await session.exec(statement)).first()


async def get_domain(session: AsyncSession, tenant_id: str, domain_id: str) -> SenderDomain | None:
    statement = select(SenderDomain).where(
        col(SenderDomain.tenant_id) == tenant_id, col(SenderDomain.id) == domain_id
    )
    return (await session.exec(statement)).first()


async def list_domains(
    session: AsyncSession, tenant_id: str, *, limit: int, offset: int
) -> list[SenderDomain]:
    statement = (
        select(SenderDomain)
        .where(col(SenderDomain.tenant_id) == tenant_id)
        .order_by(col(SenderDomain.created_at), col(SenderDomain.id))
        .limit(limit)
        .offset(offset)
    )
    return list((await session.exec(statement)).all())


async def create_domain(
    session: AsyncSession,
    secrets: SecretBox,
    *,
    tenant_id: str,
    domain: str,
    return_path_host: str,
    dmarc_policy: str = "none",
    dmarc_rua_email: str | None = None,
    ed25519: bool = False,
) -> SenderDomain:
    """A new row with a fresh RSA-2048 key (and optionally an Ed25519 key), each encrypted
    for this row. Raises Conflict when the tenant already has the domain."""
    domain_id = new_id("dom")
    rsa = await dkim_keys.generate_sealed(secrets, domain_id, dkim_keys.PRIMARY_SELECTOR)
    row = SenderDomain(
        id=domain_id,
        tenant_id=tenant_id,
        domain=domain,
        dmarc_policy=dmarc_policy,
        dmarc_rua_email=dmarc_rua_email,
        return_path_host=return_path_host,
        dkim_selector=rsa.selector,
        dkim_algorithm=rsa.algorithm,
        dkim_private_key=rsa.private_ciphertext,
        dkim_public_key=rsa.public_b64,
        dns_checks={},
    )
    if ed25519:
        await _add_ed25519(secrets, row)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Domain {domain} already exists") from exc
    return row


async def _add_ed25519(secrets: SecretBox, row: SenderDomain) -> None:
    ed = await dkim_keys.generate_sealed(
        secrets, row.id, dkim_keys.ED25519_SELECTOR, "ed25519-sha256"
    )
    row.ed25519_selector = ed.selector
    row.ed25519_private_key = ed.private_ciphertext
    row.ed25519_public_key = ed.public_b64


async def start_rotation(session: AsyncSession, secrets: SecretBox, row: SenderDomain) -> None:
    """Give the row a pending key under the other selector; signing keeps the current key
    until the pending record verifies (domain_verification promotes it)."""
    if row.pending_selector is not None:
        raise Conflict(
            f"A DKIM rotation to selector {row.pending_selector} is already pending; "
            "publish its record and verify the domain to complete it"
        )
    sealed = await dkim_keys.generate_sealed(
        secrets, row.id, dkim_keys.next_selector(row.dkim_selector)
    )
    row.pending_selector = sealed.selector
    row.pending_private_key = sealed.private_ciphertext
    row.pending_public_key = sealed.public_b64
    session.add(row)
    await session.flush()


async def delete_domain(session: AsyncSession, row: SenderDomain) -> None:
    await session.delete(row)
    await session.flush()


async def due_for_check(
    session: AsyncSession, checked_before: datetime, limit: int
) -> list[tuple[str, str]]:
    """(id, tenant_id) of domains, across tenants, last checked before the cutoff (or never),
    oldest first: the periodic re-check's work list."""
    statement = (
        select(SenderDomain.id, SenderDomain.tenant_id)
        .where(
            or_(
                col(SenderDomain.last_checked_at).is_(None),
                col(SenderDomain.last_checked_at) < checked_before,
            )
        )
        .order_by(col(SenderDomain.last_checked_at), col(SenderDomain.id))
        .limit(limit)
    )
    return [(i, t) for i, t in (await session.exec(statement)).all()]
