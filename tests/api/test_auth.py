"""Bearer API keys: unknown, revoked and expired keys are 401; suspended tenants 403;
on-behalf-of is refused; a valid key reaches the route."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlmodel import col, update

from scaisend_api.deps import PrincipalDep, permission
from scaisend_core.db import SessionFactory
from scaisend_core.models import ApiKey, Tenant, utcnow
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory

probe = APIRouter()


@probe.get("/v3/_probe")
async def _probe(principal: PrincipalDep) -> dict[str, str]:
    return {"tenant_id": principal.tenant_id, "environment": principal.environment}


@probe.get("/v3/_probe/templates")
async def _probe_templates(principal=permission("templates.read")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"ok": "yes"}


@pytest.fixture
def app_with_probe(client: httpx.AsyncClient) -> httpx.AsyncClient:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    app.include_router(probe)
    return client


async def test_valid_key_resolves_its_tenant(
    app_with_probe: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await app_with_probe.get("/v3/_probe", headers=api_key.headers)
    assert response.status_code == 200
    assert response.json() == {"tenant_id": api_key.row.tenant_id, "environment": "live"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing Authorization header"),
        ({"Authorization": "Basic abc"}, "Authorization header must be 'Bearer <token>'"),
        ({"Authorization": "Bearer sg_live_" + "0" * 32}, "Invalid API key"),
        ({"Authorization": "Bearer SG.not-ours"}, "Invalid API key"),
    ],
)
async def test_missing_or_unknown_credentials_are_401(
    app_with_probe: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await app_with_probe.get("/v3/_probe", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_jwt_without_scaikey_configured_is_401_with_a_reason(
    app_with_probe: httpx.AsyncClient,
) -> None:
    response = await app_with_probe.get("/v3/_probe", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401
    assert "JWT authentication is not configured" in response.json()["detail"]


@pytest.mark.parametrize("column", ["revoked_at", "expires_at"])
async def test_revoked_or_expired_key_is_rejected_at_once(
    app_with_probe: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, column: str
) -> None:
    assert (await app_with_probe.get("/v3/_probe", headers=api_key.headers)).status_code == 200
    async with sessions() as session:
        await session.exec(
            update(ApiKey)
            .where(col(ApiKey.id) == api_key.row.id)
            .values({column: utcnow() - timedelta(seconds=1)})
        )
        await session.commit()
    response = await app_with_probe.get("/v3/_probe", headers=api_key.headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


async def test_suspended_tenant_is_403(
    app_with_probe: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        await session.exec(
            update(Tenant).where(col(Tenant.id) == api_key.row.tenant_id).values(status="suspended")
        )
        await session.commit()
    response = await app_with_probe.get("/v3/_probe", headers=api_key.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Tenant is suspended"}


async def test_missing_permission_is_403_naming_the_scope(
    app_with_probe: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    key = await key_factory(tenant, scopes=["mail.send"])
    response = await app_with_probe.get("/v3/_probe/templates", headers=key.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing required scope: templates.read"}


async def test_on_behalf_of_is_refused_clearly(
    app_with_probe: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await app_with_probe.get(
        "/v3/_probe", headers={**api_key.headers, "On-Behalf-Of": "subuser1"}
    )
    assert response.status_code == 403
    assert "on-behalf-of" in response.json()["detail"]


async def test_last_used_is_recorded_without_a_write_per_request(
    client: httpx.AsyncClient,
    app_with_probe: httpx.AsyncClient,
    api_key: KeyFixture,
    sessions: SessionFactory,
) -> None:
    for _ in range(3):
        await app_with_probe.get("/v3/_probe", headers=api_key.headers)
    async with sessions() as session:
        row = await session.get(ApiKey, api_key.row.id)
        assert row is not None
        assert row.last_used_at is None
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    await transport.app.state.scaisend.last_used.flush()  # type: ignore[attr-defined]
    async with sessions() as session:
        row = await session.get(ApiKey, api_key.row.id)
        assert row is not None
        assert row.last_used_at is not None


async def test_concurrent_requests_are_each_decided_by_their_own_key(
    app_with_probe: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory: TenantFactory,
    key_factory: KeyFactory,
    sessions: SessionFactory,
) -> None:
    """Lookups of requests in flight together share one statement; a revoked key, a suspended
    tenant's key and an unknown key among valid ones still get their own answers."""
    revoked = await key_factory(await _tenant(sessions, api_key))
    suspended_tenant = await tenant_factory("Suspended Co")
    suspended = await key_factory(suspended_tenant)
    async with sessions() as session:
        await session.exec(
            update(ApiKey).where(col(ApiKey.id) == revoked.row.id).values(revoked_at=utcnow())
        )
        await session.exec(
            update(Tenant).where(col(Tenant.id) == suspended_tenant.id).values(status="suspended")
        )
        await session.commit()
    unknown = {"Authorization": "Bearer sg_live_" + "0" * 32}
    headers = [api_key.headers, revoked.headers, suspended.headers, unknown, api_key.headers]
    responses = await asyncio.gather(
        *(app_with_probe.get("/v3/_probe", headers=h) for h in headers)
    )
    assert [r.status_code for r in responses] == [200, 401, 403, 401, 200]


async def _tenant(sessions: SessionFactory, key: KeyFixture) -> Tenant:
    async with sessions() as session:
        tenant = await session.get(Tenant, key.row.tenant_id)
        assert tenant is not None
        return tenant
