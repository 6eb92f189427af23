"""/api/admin/domains: sender domains, their DNS records, verification and DKIM rotation.

A live `From:` must use a verified, active domain of the tenant. Matching is exact: a verified
`example.com` does not authorise `mail.example.com`; add and verify each sending subdomain
(DKIM's d= and DMARC alignment are per domain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import SessionDep, StateDep, permission
from scaisend_api.schemas.domains import (
    DomainCreate,
    DomainListResponse,
    DomainResponse,
    DomainUpdate,
    VerificationResponse,
)
from scaisend_api.services import domains as service

router = APIRouter(prefix="/api/admin/domains", tags=["domains"])

Reader = Annotated[Principal, permission("domains.read")]
Writer = Annotated[Principal, permission("domains.write")]


@router.post("", status_code=201, response_model=DomainResponse)
async def create_domain(
    body: DomainCreate, principal: Writer, session: SessionDep, state: StateDep
) -> DomainResponse:
    """Add a domain: generates its DKIM key and returns the DNS records to publish."""
    out = await service.create_domain(
        session, state.secrets, state.settings, principal.tenant_id, body
    )
    return DomainResponse(data=out)


@router.get("", response_model=DomainListResponse)
async def list_domains(
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DomainListResponse:
    rows = await service.list_domains(session, state.settings, principal.tenant_id, limit, offset)
    return DomainListResponse(data=rows)


@router.get("/{domain_id}", response_model=DomainResponse)
async def get_domain(
    domain_id: str, principal: Reader, session: SessionDep, state: StateDep
) -> DomainResponse:
    """The domain, its records and each record's last check."""
    out = await service.get_domain(session, state.settings, principal.tenant_id, domain_id)
    return DomainResponse(data=out)


@router.patch("/{domain_id}", response_model=DomainResponse)
async def update_domain(
    domain_id: str, body: DomainUpdate, principal: Writer, session: SessionDep, state: StateDep
) -> DomainResponse:
    """`is_active: false` stops live sends from the domain (403) without deleting its keys."""
    out = await service.update_domain(session, state.settings, principal.tenant_id, domain_id, body)
    return DomainResponse(data=out)


@router.delete("/{domain_id}", status_code=204, response_class=Response)
async def delete_domain(domain_id: str, principal: Writer, session: SessionDep) -> Response:
    await service.delete_domain(session, principal.tenant_id, domain_id)
    return Response(status_code=204)


@router.post("/{domain_id}/verify", response_model=VerificationResponse)
async def verify_domain(
    domain_id: str, principal: Writer, session: SessionDep, state: StateDep
) -> VerificationResponse:
    """Look the records up now (idempotent). `verified` needs DKIM, SPF and DMARC to pass;
    `errors[]` names each failing required record and why."""
    out = await service.verify(session, state.settings, principal.tenant_id, domain_id)
    return VerificationResponse(data=out)


@router.post("/{domain_id}/rotate", response_model=DomainResponse)
async def rotate_dkim(
    domain_id: str, principal: Writer, session: SessionDep, state: StateDep
) -> DomainResponse:
    """New DKIM key under the other selector (scaisend <-> scaisend2). The current key keeps
    signing until the new record verifies; then verification switches signing over."""
    out = await service.rotate(
        session, state.secrets, state.settings, principal.tenant_id, domain_id
    )
    return DomainResponse(data=out)
