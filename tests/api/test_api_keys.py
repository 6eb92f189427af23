"""/v3/api_keys and /v3/scopes: the one-time secret, scope rules (no escalation), listing,
updates, immediate revocation and rotation, tenant isolation and the creation rate limit."""

from __future__ import annotations

import httpx
from sqlmodel import select

from scaisend_core.crypto import sha256_hex
from scaisend_core.db import SessionFactory
from scaisend_core.models import ApiKey, Tenant
from tests.api.helpers import FixedClock, state_of
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory


async def _create(client: httpx.AsyncClient, key: KeyFixture, **body: object) -> httpx.Response:
    return await client.post("/v3/api_keys", headers=key.headers, json={"name": "k", **body})


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_create_returns_the_secret_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    response = await _create(client, api_key, name="production-sender", scopes=["mail.send"])
    assert response.status_code == 201
    body = response.json()
    assert body["api_key"].startswith("sg_live_")
    assert len(body["api_key"]) == 40
    assert body["id"] == body["api_key_id"]
    assert body["id"].startswith("key_")
    assert body["prefix"] == body["api_key"][:16]
    assert body["scopes"] == ["mail.send"]
    assert body["environment"] == "live"
    async with sessions() as session:
        row = (await session.exec(select(ApiKey).where(ApiKey.id == body["id"]))).one()
    assert row.key_hash == sha256_hex(body["api_key"])
    listed = await client.get(f"/v3/api_keys/{body['id']}", headers=api_key.headers)
    assert "api_key" not in listed.json()


async def test_the_new_secret_authenticates_with_its_scopes(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    secret = (await _create(client, api_key, scopes=["mail.send", "stats.read"])).json()["api_key"]
    response = await client.get("/v3/scopes", headers=_bearer(secret))
    assert response.status_code == 200
    assert response.json() == {"scopes": ["mail.send", "stats.read"]}


async def test_scopes_default_to_no_access(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    secret = (await _create(client, api_key)).json()["api_key"]
    response = await client.get("/v3/api_keys", headers=_bearer(secret))
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing required scope: admin.api_keys"}


async def test_an_unknown_scope_is_400(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await _create(client, api_key, scopes=["mail.send", "mail.teleport"])
    assert response.status_code == 400
    assert "Unknown scope(s): mail.teleport" in response.text


async def test_granting_a_scope_the_caller_lacks_is_403(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    caller = await key_factory(tenant, scopes=["admin.api_keys", "mail.send"])
    response = await _create(client, caller, scopes=["mail.send", "domains.write"])
    assert response.status_code == 403
    assert response.json() == {"detail": "Cannot grant scopes you do not have: domains.write"}


async def test_a_test_key_cannot_mint_a_live_key(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    caller = await key_factory(tenant, environment="test")
    assert (await _create(client, caller, environment="live")).status_code == 403
    created = await _create(client, caller, environment="test", scopes=["mail.send"])
    assert created.status_code == 201
    assert created.json()["api_key"].startswith("sg_test_")


async def test_expiry_in_the_past_is_refused(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await _create(client, api_key, expires_at="2020-01-01T00:00:00Z")
    assert response.status_code == 400


async def test_list_hides_revoked_keys_unless_asked(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    revoked = (await _create(client, api_key, name="old")).json()["id"]
    await client.delete(f"/v3/api_keys/{revoked}", headers=api_key.headers)
    listed = await client.get("/v3/api_keys", headers=api_key.headers)
    assert [k["id"] for k in listed.json()["api_keys"]] == [api_key.row.id]
    everything = await client.get("/v3/api_keys?include_revoked=true", headers=api_key.headers)
    keys = {k["id"]: k for k in everything.json()["api_keys"]}
    assert set(keys) == {api_key.row.id, revoked}
    assert keys[revoked]["revoked_at"] is not None


async def test_revocation_is_immediate(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    created = (await _create(client, api_key, scopes=["mail.send"])).json()
    assert (await client.get("/v3/scopes", headers=_bearer(created["api_key"]))).status_code == 200
    response = await client.delete(f"/v3/api_keys/{created['id']}", headers=api_key.headers)
    assert response.status_code == 204
    after = await client.get("/v3/scopes", headers=_bearer(created["api_key"]))
    assert after.status_code == 401
    assert after.json() == {"detail": "Invalid API key"}


async def test_patch_renames_and_rescopes(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    key_id = (await _create(client, api_key, scopes=["mail.send"])).json()["id"]
    response = await client.patch(
        f"/v3/api_keys/{key_id}",
        headers=api_key.headers,
        json={"name": "renamed", "scopes": ["stats.read"]},
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert response.json()["scopes"] == ["stats.read"]


async def test_patch_cannot_escalate(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    caller = await key_factory(tenant, scopes=["admin.api_keys", "mail.send"])
    key_id = (await _create(client, caller, scopes=["mail.send"])).json()["id"]
    response = await client.patch(
        f"/v3/api_keys/{key_id}", headers=caller.headers, json={"scopes": ["admin.settings"]}
    )
    assert response.status_code == 403


async def test_put_is_sendgrids_update(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    key_id = (await _create(client, api_key)).json()["id"]
    response = await client.put(
        f"/v3/api_keys/{key_id}",
        headers=api_key.headers,
        json={"name": "sdk", "scopes": ["mail.send", "mail.schedule"]},
    )
    assert response.status_code == 200
    assert response.json()["api_key_id"] == key_id
    assert response.json()["scopes"] == ["mail.schedule", "mail.send"]


async def test_rotate_replaces_the_secret_at_once(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    created = (await _create(client, api_key, scopes=["mail.send"])).json()
    response = await client.post(f"/v3/api_keys/{created['id']}/rotate", headers=api_key.headers)
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["id"] == created["id"]
    assert rotated["api_key"] != created["api_key"]
    assert (await client.get("/v3/scopes", headers=_bearer(created["api_key"]))).status_code == 401
    assert (await client.get("/v3/scopes", headers=_bearer(rotated["api_key"]))).status_code == 200


async def test_a_revoked_key_cannot_be_rotated(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    key_id = (await _create(client, api_key)).json()["id"]
    await client.delete(f"/v3/api_keys/{key_id}", headers=api_key.headers)
    response = await client.post(f"/v3/api_keys/{key_id}/rotate", headers=api_key.headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "API key is revoked"}


async def test_rotating_a_more_powerful_key_is_403(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, key_factory: KeyFactory
) -> None:
    caller = await key_factory(tenant, scopes=["admin.api_keys"])
    response = await client.post(f"/v3/api_keys/{api_key.row.id}/rotate", headers=caller.headers)
    assert response.status_code == 403
    assert "Cannot rotate a key with scopes you do not have" in response.json()["detail"]


async def test_another_tenants_key_is_404(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant_factory: TenantFactory,
    key_factory: KeyFactory,
) -> None:  # fmt: skip
    other = await key_factory(await tenant_factory("Other Inc"))
    for method, path in [
        ("GET", f"/v3/api_keys/{other.row.id}"),
        ("PATCH", f"/v3/api_keys/{other.row.id}"),
        ("DELETE", f"/v3/api_keys/{other.row.id}"),
        ("POST", f"/v3/api_keys/{other.row.id}/rotate"),
    ]:
        response = await client.request(method, path, headers=api_key.headers, json={})
        assert response.status_code == 404, (method, path)
    listed = await client.get("/v3/api_keys", headers=api_key.headers)
    assert other.row.id not in {k["id"] for k in listed.json()["api_keys"]}
    assert (await client.get("/v3/scopes", headers=other.headers)).status_code == 200


async def test_scopes_needs_no_admin_permission(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    key = await key_factory(tenant, scopes=["stats.read"])
    response = await client.get("/v3/scopes", headers=key.headers)
    assert response.json() == {"scopes": ["stats.read"]}


async def test_creation_is_limited_per_tenant_per_minute(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, key_factory: KeyFactory
) -> None:
    state_of(client).rate_limiter.clock = FixedClock(1_900_000_040.0)
    for _ in range(10):
        assert (await _create(client, api_key)).status_code == 201
    other_key_same_tenant = await key_factory(tenant)
    response = await _create(client, other_key_same_tenant)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "40"
    assert (await client.get("/v3/api_keys", headers=api_key.headers)).status_code == 200
