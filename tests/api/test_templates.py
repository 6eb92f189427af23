"""/v3/templates: create, list (generations, pages), get, rename, duplicate, delete, permissions and
tenant isolation."""

from __future__ import annotations

import re

import httpx

from scaisend_core.models import Tenant
from tests.api.templates_helpers import add_version, create
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory


async def test_create_returns_a_dynamic_template_with_a_d_id(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    body = await create(client, api_key)

    assert re.fullmatch(r"d-[0-9a-f]{32}", body["id"])
    assert body["name"] == "welcome-email"
    assert body["generation"] == "dynamic"
    assert body["versions"] == []
    assert body["created_at"].endswith("Z")


async def test_legacy_templates_get_a_uuid(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    body = await create(client, api_key, "old", generation="legacy")

    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["id"])
    assert body["generation"] == "legacy"


async def test_name_is_unique_within_the_tenant(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    await create(client, api_key, "receipt")

    response = await client.post("/v3/templates", json={"name": "receipt"}, headers=api_key.headers)

    assert response.status_code == 409
    assert "receipt" in response.json()["detail"]


async def test_list_filters_by_generation_and_pages_with_tokens(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    for name in ("a", "b", "c"):
        await create(client, api_key, name)
    await create(client, api_key, "legacy-one", generation="legacy")

    first = await client.get(
        "/v3/templates", params={"generations": "dynamic", "page_size": 2}, headers=api_key.headers
    )
    assert first.status_code == 200
    page = first.json()
    assert page["_metadata"]["count"] == 3
    assert len(page["result"]) == 2
    assert page["_metadata"]["prev"] is None
    next_url = page["_metadata"]["next"]
    assert next_url.startswith("http://scaisend.test/v3/templates?")

    second = (await client.get(next_url, headers=api_key.headers)).json()
    names = {t["name"] for t in page["result"] + second["result"]}
    assert names == {"a", "b", "c"}
    assert second["_metadata"]["next"] is None
    assert all(t["generation"] == "dynamic" for t in second["result"])


async def test_list_without_filter_returns_both_generations_and_version_summaries(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key, "d")
    await add_version(client, api_key, template["id"])
    await create(client, api_key, "l", generation="legacy")

    page = (await client.get("/v3/templates", headers=api_key.headers)).json()

    assert {t["generation"] for t in page["result"]} == {"dynamic", "legacy"}
    listed = next(t for t in page["result"] if t["id"] == template["id"])
    assert listed["versions"][0]["active"] == 1
    assert listed["versions"][0]["html_content"] is None  # content only on GET by id


async def test_unknown_generation_is_a_400(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await client.get(
        "/v3/templates", params={"generations": "modern"}, headers=api_key.headers
    )

    assert response.status_code == 400
    assert "generations" in response.json()["detail"]


async def test_get_returns_versions_with_content(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    version = await add_version(client, api_key, template["id"])

    body = (await client.get(f"/v3/templates/{template['id']}", headers=api_key.headers)).json()

    assert [v["id"] for v in body["versions"]] == [version["id"]]
    assert body["versions"][0]["html_content"] == "<p>{{name}}</p>"
    assert body["versions"][0]["active"] == 1


async def test_patch_renames(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    template = await create(client, api_key)

    response = await client.patch(
        f"/v3/templates/{template['id']}", json={"name": "hello"}, headers=api_key.headers
    )

    assert response.status_code == 200
    assert response.json()["name"] == "hello"


async def test_duplicate_copies_every_version_under_a_new_id(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    await add_version(client, api_key, template["id"], name="one")
    await add_version(client, api_key, template["id"], name="two", active=1)

    response = await client.post(
        f"/v3/templates/{template['id']}", json={"name": "copy"}, headers=api_key.headers
    )

    assert response.status_code == 201
    copy = response.json()
    assert copy["id"] != template["id"]
    assert copy["name"] == "copy"
    assert [(v["name"], v["active"]) for v in copy["versions"]] == [("one", 0), ("two", 1)]
    assert all(v["template_id"] == copy["id"] for v in copy["versions"])


async def test_delete_hides_the_template(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    template = await create(client, api_key)

    deleted = await client.delete(f"/v3/templates/{template['id']}", headers=api_key.headers)

    assert deleted.status_code == 204
    gone = await client.get(f"/v3/templates/{template['id']}", headers=api_key.headers)
    assert gone.status_code == 404
    assert gone.json() == {"detail": "Template not found"}


async def test_read_only_key_cannot_create_or_delete(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, key_factory: KeyFactory
) -> None:
    template = await create(client, api_key)
    reader = await key_factory(tenant, scopes=["templates.read"])

    assert (await client.get("/v3/templates", headers=reader.headers)).status_code == 200
    created = await client.post("/v3/templates", json={"name": "x"}, headers=reader.headers)
    assert created.status_code == 403
    deleted = await client.delete(f"/v3/templates/{template['id']}", headers=reader.headers)
    assert deleted.status_code == 403


async def test_other_tenants_cannot_see_or_touch_a_template(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory: TenantFactory,
    key_factory: KeyFactory,
) -> None:
    template = await create(client, api_key)
    other = await key_factory(await tenant_factory("Other Inc"))

    for method, path in (
        ("GET", f"/v3/templates/{template['id']}"),
        ("PATCH", f"/v3/templates/{template['id']}"),
        ("DELETE", f"/v3/templates/{template['id']}"),
        ("POST", f"/v3/templates/{template['id']}/versions"),
    ):
        body = {"name": "x"} if method in ("PATCH", "POST") else None
        response = await client.request(method, path, json=body, headers=other.headers)
        assert response.status_code == 404, (method, path)
    listed = (await client.get("/v3/templates", headers=other.headers)).json()
    assert listed["result"] == []
