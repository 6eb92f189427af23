"""Sender domains: add (with fresh DKIM keys), list, read, (de)activate, delete, verify DNS and
rotate the DKIM key. Which records are required, and how each is checked, is core's
domain_verification; this module validates input and shapes what the admin API returns."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.schemas.domains import (
    DnsRecordOut,
    DomainCreate,
    DomainOut,
    DomainUpdate,
    VerificationError,
    VerificationOut,
)
from scaisend_core.config import CoreSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.dns import open_resolver
from scaisend_core.domain_verification import DnsPolicy, expected_records, verify_domain
from scaisend_core.errors import NotFound, ValidationFailed
from scaisend_core.models import SenderDomain, utcnow
from scaisend_core.repositories import sender_domains as repo

log = logging.getLogger(__name__)

DMARC_POLICIES = ("none", "quarantine", "reject")
DEFAULT_RETURN_PATH_LABEL = "bounces"
MAX_PAGE = 500
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_RUA_LOCAL = re.compile(r"^[^\s@;,!<>\"]{1,64}$")


def normalise_domain(value: str, what: str = "domain") -> str:
    """Lowercase A-label form (IDNA), at least two labels, no IP literal."""
    text = value.strip().lower().rstrip(".")
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValidationFailed.single(f"Invalid {what}: {value!r}") from exc
    labels = ascii_name.split(".")
    if (
        len(ascii_name) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationFailed.single(f"Invalid {what}: {value!r}")
    return ascii_name


def _dmarc_policy(value: str) -> str:
    policy = value.strip().lower()
    if policy not in DMARC_POLICIES:
        raise ValidationFailed.single("Invalid DMARC policy value")
    return policy


def _rua(value: str | None) -> str | None:
    """An address for `rua=mailto:`; `;`, `,` and `!` would break the DMARC record's syntax."""
    if value is None or not value.strip():
        return None
    local, _, host = value.strip().rpartition("@")
    if not _RUA_LOCAL.match(local):
        raise ValidationFailed.single(f"Invalid dmarc_rua_email: {value!r}")
    return f"{local}@{normalise_domain(host, 'dmarc_rua_email')}"


def _return_path_host(domain: str, label: str | None) -> str:
    sub = (label or DEFAULT_RETURN_PATH_LABEL).strip().lower().rstrip(".")
    return normalise_domain(f"{sub}.{domain}", "return_path_subdomain")


def present(row: SenderDomain, policy: DnsPolicy) -> DomainOut:
    return DomainOut(
        id=row.id,
        domain=row.domain,
        is_active=row.is_active,
        verified=row.verified,
        verified_at=row.verified_at,
        dmarc_policy=row.dmarc_policy,
        dmarc_rua_email=row.dmarc_rua_email,
        return_path_host=row.return_path_host,
        dkim_selector=row.dkim_selector,
        dkim_algorithm=row.dkim_algorithm,
        pending_selector=row.pending_selector,
        ed25519_selector=row.ed25519_selector,
        dns_records=dns_records(row, policy),
        last_checked_at=row.last_checked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def dns_records(row: SenderDomain, policy: DnsPolicy) -> list[DnsRecordOut]:
    """Each record to publish, with its last check result (stored on the row)."""
    checks = row.dns_checks or {}
    out = []
    for record in expected_records(row, policy):
        check = checks.get(record.name) or {}
        checked_at = check.get("checked_at")
        out.append(
            DnsRecordOut(
                name=record.name,
                host=record.host,
                type=record.type,
                value=record.value,
                priority=record.priority,
                required=record.required,
                valid=check.get("valid"),
                reason=check.get("reason"),
                checked_at=datetime.fromisoformat(checked_at) if checked_at else None,
            )
        )
    return out


async def create_domain(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    body: DomainCreate,
) -> DomainOut:
    domain = normalise_domain(body.domain)
    row = await repo.create_domain(
        session,
        secrets,
        tenant_id=tenant_id,
        domain=domain,
        return_path_host=_return_path_host(domain, body.return_path_subdomain),
        dmarc_policy=_dmarc_policy(body.dmarc_policy),
        dmarc_rua_email=_rua(body.dmarc_rua_email),
        ed25519=body.ed25519,
    )
    await session.commit()
    log.info("sender domain added", extra={"domain_id": row.id, "tenant_id": tenant_id})
    return present(row, DnsPolicy.from_settings(settings))


async def list_domains(
    session: AsyncSession, settings: CoreSettings, tenant_id: str, limit: int, offset: int
) -> list[DomainOut]:
    rows = await repo.list_domains(session, tenant_id, limit=min(limit, MAX_PAGE), offset=offset)
    policy = DnsPolicy.from_settings(settings)
    return [present(row, policy) for row in rows]


async def _load(session: AsyncSession, tenant_id: str, domain_id: str) -> SenderDomain:
    row = await repo.get_domain(session, tenant_id, domain_id)
    if row is None:
        raise NotFound("Domain not found")
    return row


async def get_domain(
    session: AsyncSession, settings: CoreSettings, tenant_id: str, domain_id: str
) -> DomainOut:
    return present(await _load(session, tenant_id, domain_id), DnsPolicy.from_settings(settings))


async def update_domain(
    session: AsyncSession,
    settings: CoreSettings,
    tenant_id: str,
    domain_id: str,
    body: DomainUpdate,
) -> DomainOut:
    row = await _load(session, tenant_id, domain_id)
    if body.is_active is not None:
        row.is_active = body.is_active
        row.updated_at = utcnow()
        session.add(row)
        await session.commit()
    return present(row, DnsPolicy.from_settings(settings))


async def delete_domain(session: AsyncSession, tenant_id: str, domain_id: str) -> None:
    await repo.delete_domain(session, await _load(session, tenant_id, domain_id))
    await session.commit()


async def verify(
    session: AsyncSession, settings: CoreSettings, tenant_id: str, domain_id: str
) -> VerificationOut:
    """Idempotent: look every record up now, store the results, and say what fails."""
    row = await _load(session, tenant_id, domain_id)
    policy = DnsPolicy.from_settings(settings)
    async with open_resolver(settings) as resolver:
        result = await verify_domain(resolver, row, policy)
    session.add(row)
    await session.commit()
    log.info(
        "sender domain verified" if row.verified else "sender domain verification failed",
        extra={"domain_id": row.id, "failing": sorted(result.failing), "promoted": result.promoted},
    )
    records = dns_records(row, policy)
    return VerificationOut(
        id=row.id,
        domain=row.domain,
        verified=row.verified,
        dkim_selector=row.dkim_selector,
        pending_selector=row.pending_selector,
        dns_records=records,
        errors=[
            VerificationError(record=r.name, host=r.host, message=r.reason or "failed")
            for r in records
            if r.required and r.valid is False
        ],
        checked_at=row.last_checked_at or utcnow(),
    )


async def rotate(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    domain_id: str,
) -> DomainOut:
    """Publish a new key under the other selector; signing switches once it verifies."""
    row = await _load(session, tenant_id, domain_id)
    await repo.start_rotation(session, secrets, row)
    await session.commit()
    log.info("dkim rotation started", extra={"domain_id": row.id, "selector": row.pending_selector})
    return present(row, DnsPolicy.from_settings(settings))
