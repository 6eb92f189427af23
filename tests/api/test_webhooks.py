"""/v3/user/webhooks CRUD: the secret shown once and stored encrypted, validation, pagination
and filters, PATCH (re-enabling clears an auto-disable), DELETE with its deliveries, rotation,
permissions, tenant isolation and the creation rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from arq.connections import ArqRedis
from sqlmodel import select

from scaisend_api.app import create_app
from scaisend_api.settings import ApiSettings
from scaisend_api.state import AppState
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import MessageEvent, Tenant, WebhookDelivery, WebhookEndpoint
from scaisend_core.repositories.events import NewEvent, record_event
from scaisend_core.webhook_signing import secret_context
from tests.api.webhooks_helpers import (
    PUBLIC_ADDRESS,
    PUBLIC_HOST,
    PUBLIC_URL,
    WEBHOOKS,
    api_settings_for,
    create_webhook,
)
from tests.fixtures.dns import Zone
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.factories import KeyFactory, KeyFixture

BOX = SecretBox(TEST_SECRET_KEY)


@pytest.fixture
def api_settings(test_env: dict[str, str], dns_nameservers: list[str], dns: Zone) -> ApiSettings:
    dns.a(PUBLIC_HOST, PUBLIC_ADDRESS)
    return api_settings_for(test_env, dns_nameservers)


async def stored(sessions: SessionFactory, webhook_id: str) -> WebhookEndpoint:
    async with sessions() as session:
        row = await session.get(WebhookEndpoint, webhook_id)
        assert row is not None
        return row


async def test_create_returns_the_signing_secret_once_and_stores_it_encrypted(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    data = await create_webhook(client, api_key.headers)

    assert data["id"].startswith("wh_")
    assert data["url"] == PUBLIC_URL
    assert data["enabled_events"] == ["delivered", "bounce"]
    assert (data["enabled"], data["failure_count"], data["disabled_at"]) == (True, 0, None)
    assert data["signing_secret"].startswith("whsec_")
    row = await stored(sessions, data["id"])
    assert row.signing_secret is not None
    assert data["signing_secret"] not in row.signing_secret
    context = secret_context(row.id, "signing_secret")
    assert BOX.decrypt_text(row.signing_secret, context=context) == data["signing_secret"]
    fetched = (await client.get(f"{WEBHOOKS}/{data['id']}", headers=api_key.headers)).json()
    assert "signing_secret" not in fetched
    assert fetched["url"] == PUBLIC_URL


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": PUBLIC_URL, "enabled_events": ["delivered", "opened"]}, "enabled_events"),
        ({"url": PUBLIC_URL, "enabled_events": ["*", "bounce"]}, "enabled_events"),
        ({"url": "ftp://hooks.example.test/x", "enabled_events": ["*"]}, "url"),
        ({"url": "https://nowhere.example.test/x", "enabled_events": ["*"]}, "url"),
        ({"url": PUBLIC_URL, "enabled_events": ["*"], "oauth_client_id": "c"}, "oauth_client_id"),
    ],
)
async def test_invalid_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, api_key: KeyFixture, body: dict[str, object], field: str
) -> None:
    response = await client.post(WEBHOOKS, json=body, headers=api_key.headers)

    assert response.status_code == 400, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]


async def test_missing_fields_are_a_422(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await client.post(WEBHOOKS, json={"url": PUBLIC_URL}, headers=api_key.headers)
    assert response.status_code == 422


async def test_star_and_duplicates_are_normalised(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    everything = await create_webhook(client, api_key.headers, events=["*"])
    some = await create_webhook(client, api_key.headers, events=["open", "open", "click"])
    assert everything["enabled_events"] == ["*"]
    assert some["enabled_events"] == ["open", "click"]


async def test_list_pages_and_filters_by_is_active(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    ids = [(await create_webhook(client, api_key.headers))["id"] for _ in range(3)]
    async with sessions() as session:
        row = await session.get(WebhookEndpoint, ids[1])
        assert row is not None
        row.disabled_at = datetime.now(UTC)
        await session.commit()

    page = (await client.get(f"{WEBHOOKS}?page=2&page_size=2", headers=api_key.headers)).json()
    active = (await client.get(f"{WEBHOOKS}?is_active=true", headers=api_key.headers)).json()
    inactive = (await client.get(f"{WEBHOOKS}?is_active=false", headers=api_key.headers)).json()

    assert (page["total"], [w["id"] for w in page["webhooks"]]) == (3, [ids[2]])
    assert [w["id"] for w in active["webhooks"]] == [ids[0], ids[2]]
    assert [w["id"] for w in inactive["webhooks"]] == [ids[1]]


async def test_patch_enabled_true_clears_an_auto_disable(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    data = await create_webhook(client, api_key.headers)
    async with sessions() as session:
        row = await session.get(WebhookEndpoint, data["id"])
        assert row is not None
        row.failure_count, row.disabled_at = 10, datetime.now(UTC)
        await session.commit()

    response = await client.patch(
        f"{WEBHOOKS}/{data['id']}", json={"enabled": True}, headers=api_key.headers
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["enabled"], body["failure_count"], body["disabled_at"]) == (True, 0, None)


async def test_patch_changes_url_and_events_and_pauses(
    client: httpx.AsyncClient, api_key: KeyFixture, dns: Zone
) -> None:
    dns.a("other.example.test", PUBLIC_ADDRESS)
    data = await create_webhook(client, api_key.headers)

    response = await client.patch(
        f"{WEBHOOKS}/{data['id']}",
        json={"url": "https://other.example.test/h", "enabled_events": ["open"], "enabled": False},
        headers=api_key.headers,
    )

    body = response.json()
    assert (body["url"], body["enabled_events"], body["enabled"]) == (
        "https://other.example.test/h", ["open"], False,
    )  # fmt: skip


async def test_delete_removes_the_endpoint_and_its_deliveries(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    data = await create_webhook(client, api_key.headers, events=["*"])
    async with sessions() as session:
        await record_event(session, NewEvent(tenant.id, EventType.OPEN, None, "a@example.test"))
        await session.commit()

    response = await client.delete(f"{WEBHOOKS}/{data['id']}", headers=api_key.headers)

    assert response.status_code == 204
    assert (
        await client.get(f"{WEBHOOKS}/{data['id']}", headers=api_key.headers)
    ).status_code == 404
    async with sessions() as session:
        assert (await session.exec(select(WebhookDelivery))).all() == []
        assert len((await session.exec(select(MessageEvent))).all()) == 1  # the timeline stays


async def test_rotation_returns_a_new_secret_and_replaces_the_stored_one(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    data = await create_webhook(client, api_key.headers)

    response = await client.post(f"{WEBHOOKS}/{data['id']}/signing_secret", headers=api_key.headers)

    assert response.status_code == 200
    new = response.json()["signing_secret"]
    assert new.startswith("whsec_")
    assert new != data["signing_secret"]
    row = await stored(sessions, data["id"])
    assert row.signing_secret is not None
    context = secret_context(row.id, "signing_secret")
    assert BOX.decrypt_text(row.signing_secret, context=context) == new


async def test_oauth_secret_is_stored_encrypted_and_never_returned(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    data = await create_webhook(
        client,
        api_key.headers,
        oauth_client_id="client-1",
        oauth_client_secret="very-secret",
        oauth_token_url="https://hooks.example.test/token",
    )

    assert data["oauth_client_id"] == "client-1"
    assert "very-secret" not in str(data)
    row = await stored(sessions, data["id"])
    assert row.oauth_client_secret is not None
    assert "very-secret" not in row.oauth_client_secret
    removed = await client.patch(
        f"{WEBHOOKS}/{data['id']}", json={"oauth_client_id": ""}, headers=api_key.headers
    )
    assert removed.json()["oauth_client_id"] is None
    assert (await stored(sessions, data["id"])).oauth_client_secret is None


async def test_reads_need_webhooks_read_and_writes_webhooks_write(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    reader = await key_factory(tenant, scopes=["webhooks.read"])
    writer = await key_factory(tenant, scopes=["webhooks.write"])

    assert (await client.get(WEBHOOKS, headers=reader.headers)).status_code == 200
    assert (await client.get(WEBHOOKS, headers=writer.headers)).status_code == 403
    denied = await client.post(
        WEBHOOKS, json={"url": PUBLIC_URL, "enabled_events": ["*"]}, headers=reader.headers
    )
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Missing required scope: webhooks.write"}
    await create_webhook(client, writer.headers)


async def test_another_tenants_webhook_is_not_found(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory,
    key_factory: KeyFactory,  # type: ignore[no-untyped-def]
) -> None:
    data = await create_webhook(client, api_key.headers)
    other = await key_factory(await tenant_factory("Other Inc"))

    for method, path in [
        ("GET", f"{WEBHOOKS}/{data['id']}"),
        ("PATCH", f"{WEBHOOKS}/{data['id']}"),
        ("DELETE", f"{WEBHOOKS}/{data['id']}"),
        ("POST", f"{WEBHOOKS}/{data['id']}/signing_secret"),
        ("GET", f"{WEBHOOKS}/{data['id']}/deliveries"),
    ]:
        response = await client.request(method, path, json={}, headers=other.headers)
        assert response.status_code == 404, (method, path)
    assert (await client.get(WEBHOOKS, headers=other.headers)).json() == {
        "webhooks": [],
        "total": 0,
    }


@pytest.fixture
async def frozen_limits(
    api_settings: ApiSettings, sessions: SessionFactory, redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its rate-limit clock stopped mid-minute, so no window ends mid-test."""
    app = create_app(api_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        state: AppState = app.state.scaisend
        state.rate_limiter.clock = lambda: 1_900_000_040.0
        yield http


async def test_creation_is_limited_to_ten_a_minute_per_tenant(
    frozen_limits: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    for _ in range(10):
        await create_webhook(frozen_limits, api_key.headers)

    response = await frozen_limits.post(
        WEBHOOKS, json={"url": PUBLIC_URL, "enabled_events": ["*"]}, headers=api_key.headers
    )

    assert response.status_code == 429
    assert response.headers["x-ratelimit-limit"] == "10"
    assert response.headers["retry-after"] == "40"
    listed = await frozen_limits.get(WEBHOOKS, headers=api_key.headers)
    assert listed.json()["total"] == 10
