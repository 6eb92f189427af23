"""/api/admin/domains: create (keys and records), list, get, patch, delete, validation,
permissions and tenant isolation."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlmodel import select

from scaisend_api.settings import ApiSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.dkim_keys import load_private_key
from scaisend_core.models import SenderDomain, Tenant
from tests.api.domains_helpers import DOMAINS, create, record, settings_with_dns
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.factories import KeyFactory, KeyFixture


@pytest.fixture
def api_settings(test_env: dict[str, str], dns_nameservers: list[str]) -> ApiSettings:
    return settings_with_dns(test_env, dns_nameservers)


async def test_create_returns_201_with_every_record_to_publish(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    data = await create(client, api_key.headers)

    assert data["domain"] == "mail.example.test"
    assert data["verified"] is False
    assert data["is_active"] is True
    assert data["dkim_selector"] == "scaisend"
    assert data["return_path_host"] == "bounces.mail.example.test"
    hosts = {(r["name"], r["type"], r["host"]) for r in data["dns_records"]}
    assert hosts == {
        ("dkim", "TXT", "scaisend._domainkey.mail.example.test"),
        ("spf", "TXT", "mail.example.test"),
        ("dmarc", "TXT", "_dmarc.mail.example.test"),
        ("return_path", "MX", "bounces.mail.example.test"),
    }
    assert record(data, "spf")["value"] == "v=spf1 include:bounces.scaisend.test ~all"
    assert record(data, "dmarc")["value"] == (
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test"
    )
    assert record(data, "return_path")["value"] == "bounces.scaisend.test"
    assert all(r["valid"] is None and r["checked_at"] is None for r in data["dns_records"])


async def test_dkim_record_publishes_the_public_half_of_the_stored_rsa_2048_key(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    data = await create(client, api_key.headers)

    value = record(data, "dkim")["value"]
    assert value.startswith("v=DKIM1; k=rsa; p=")
    public = load_der_public_key(base64.b64decode(value.split("p=", 1)[1]))
    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
    assert not row.dkim_private_key.startswith("-----")  # encrypted at rest
    private = load_private_key(
        SecretBox(TEST_SECRET_KEY).decrypt(row.dkim_private_key, context=row.id)
    )
    assert private.key_size == 2048  # type: ignore[union-attr]
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]


async def test_create_with_ed25519_adds_a_second_dkim_record(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    data = await create(client, api_key.headers, ed25519=True)

    ed = record(data, "dkim_ed25519")
    assert ed["host"] == "scaisend-ed25519._domainkey.mail.example.test"
    assert ed["value"].startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed["value"].split("p=", 1)[1])) == 32
    assert ed["required"] is False


async def test_custom_return_path_subdomain_names_the_bounce_host(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    data = await create(client, api_key.headers, return_path_subdomain="rp")
    assert data["return_path_host"] == "rp.mail.example.test"


async def test_domain_is_normalised_to_lowercase_without_trailing_dot(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    data = await create(client, api_key.headers, domain="Mail.Example.TEST.")
    assert data["domain"] == "mail.example.test"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"domain": "example.test", "dmarc_policy": "strict"}, "Invalid DMARC policy value"),
        ({"domain": "localhost"}, "Invalid domain: 'localhost'"),
        ({"domain": "10.0.0.1"}, "Invalid domain: '10.0.0.1'"),
        ({"domain": "bad_label.example.test"}, "Invalid domain: 'bad_label.example.test'"),
        ({"domain": "-x.example.test"}, "Invalid domain: '-x.example.test'"),
    ],
)
async def test_invalid_input_is_400_with_a_detail(
    client: httpx.AsyncClient, api_key: KeyFixture, body: dict[str, str], detail: str
) -> None:
    response = await client.post(DOMAINS, json=body, headers=api_key.headers)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}


async def test_invalid_rua_address_is_400(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    body = {"domain": "example.test", "dmarc_rua_email": "not an address"}
    response = await client.post(DOMAINS, json=body, headers=api_key.headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid dmarc_rua_email")


async def test_missing_domain_field_is_422(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await client.post(DOMAINS, json={"dmarc_policy": "none"}, headers=api_key.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "domain"]


async def test_adding_the_same_domain_twice_is_409(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    await create(client, api_key.headers)
    response = await client.post(
        DOMAINS, json={"domain": "mail.example.test"}, headers=api_key.headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Domain mail.example.test already exists"}


async def test_list_returns_the_tenants_domains_in_creation_order(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    await create(client, api_key.headers, domain="a.example.test")
    await create(client, api_key.headers, domain="b.example.test")

    response = await client.get(DOMAINS, headers=api_key.headers)

    assert response.status_code == 200
    assert [d["domain"] for d in response.json()["data"]] == ["a.example.test", "b.example.test"]


async def test_get_returns_the_domain(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    created = await create(client, api_key.headers)
    response = await client.get(f"{DOMAINS}/{created['id']}", headers=api_key.headers)
    assert response.status_code == 200
    assert response.json()["data"] == created


async def test_patch_deactivates_the_domain(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    created = await create(client, api_key.headers)

    response = await client.patch(
        f"{DOMAINS}/{created['id']}", json={"is_active": False}, headers=api_key.headers
    )

    assert response.status_code == 200
    assert response.json()["data"]["is_active"] is False
    async with sessions() as session:
        assert (await session.exec(select(SenderDomain.is_active))).one() is False


async def test_delete_removes_the_domain(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    created = await create(client, api_key.headers)

    response = await client.delete(f"{DOMAINS}/{created['id']}", headers=api_key.headers)

    assert response.status_code == 204
    assert (
        await client.get(f"{DOMAINS}/{created['id']}", headers=api_key.headers)
    ).status_code == 404
    async with sessions() as session:
        assert (await session.exec(select(SenderDomain))).all() == []


async def test_unknown_domain_id_is_404(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await client.get(f"{DOMAINS}/dom_missing", headers=api_key.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Domain not found"}


async def test_read_scope_cannot_create(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    reader = await key_factory(tenant, scopes=["domains.read"])
    response = await client.post(DOMAINS, json={"domain": "example.test"}, headers=reader.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing required scope: domains.write"}


async def test_key_without_domain_scopes_cannot_list(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    sender = await key_factory(tenant, scopes=["mail.send"])
    response = await client.get(DOMAINS, headers=sender.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing required scope: domains.read"}


class TestTenantIsolation:
    @pytest.fixture
    async def other_key(self, tenant_factory: object, key_factory: KeyFactory) -> KeyFixture:
        other = await tenant_factory("Other Corp")  # type: ignore[operator]
        return await key_factory(other)

    async def test_another_tenant_does_not_see_the_domain_in_its_list(
        self, client: httpx.AsyncClient, api_key: KeyFixture, other_key: KeyFixture
    ) -> None:
        await create(client, api_key.headers)
        response = await client.get(DOMAINS, headers=other_key.headers)
        assert response.json() == {"data": []}

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("GET", "", None),
            ("PATCH", "", {"is_active": False}),
            ("DELETE", "", None),
            ("POST", "/verify", None),
            ("POST", "/rotate", None),
        ],
    )
    async def test_another_tenant_gets_404_for_every_action(
        self,
        client: httpx.AsyncClient,
        api_key: KeyFixture,
        other_key: KeyFixture,
        sessions: SessionFactory,
        method: str,
        suffix: str,
        body: dict[str, bool] | None,
    ) -> None:
        created = await create(client, api_key.headers)

        response = await client.request(
            method, f"{DOMAINS}/{created['id']}{suffix}", json=body, headers=other_key.headers
        )

        assert response.status_code == 404
        async with sessions() as session:
            row = (await session.exec(select(SenderDomain))).one()
        assert (row.is_active, row.pending_selector, row.last_checked_at) == (True, None, None)

    async def test_another_tenant_may_add_the_same_domain_with_its_own_key(
        self, client: httpx.AsyncClient, api_key: KeyFixture, other_key: KeyFixture
    ) -> None:
        mine = await create(client, api_key.headers)
        theirs = await create(client, other_key.headers)
        assert record(mine, "dkim")["value"] != record(theirs, "dkim")["value"]
