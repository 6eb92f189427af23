"""The SSRF guard when URLs are saved, with WEBHOOK_ALLOW_PRIVATE off: loopback, private,
link-local/metadata addresses and names that resolve to them are refused with a 400; HTTPS is
required in production."""

from __future__ import annotations

import httpx
import pytest

from scaisend_api.settings import ApiSettings
from tests.api.webhooks_helpers import (
    PUBLIC_ADDRESS,
    PUBLIC_HOST,
    PUBLIC_URL,
    WEBHOOKS,
    api_settings_for,
    create_webhook,
)
from tests.fixtures.dns import Zone
from tests.fixtures.factories import KeyFixture


@pytest.fixture
def api_settings(test_env: dict[str, str], dns_nameservers: list[str], dns: Zone) -> ApiSettings:
    dns.a(PUBLIC_HOST, PUBLIC_ADDRESS)
    dns.a("internal.example.test", "10.1.2.3")
    dns.a("mixed.example.test", PUBLIC_ADDRESS, "192.168.1.10")
    dns.aaaa("v6.example.test", "::1")
    return api_settings_for(test_env, dns_nameservers, allow_private=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback, private, link-local or reserved address"),
        ("http://10.0.0.5/hook", "10.0.0.5 is a loopback, private, link-local or reserved address"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a cloud metadata address"),
        ("http://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1 is a loopback, private, link-local or reserved address"),
        ("http://localhost/hook", "localhost resolves to 127.0.0.1, a loopback, private, link-local or reserved address"),
        ("https://internal.example.test/hook", "internal.example.test resolves to 10.1.2.3, a loopback, private, link-local or reserved address"),
        ("https://mixed.example.test/hook", "mixed.example.test resolves to 192.168.1.10, a loopback, private, link-local or reserved address"),
        ("https://v6.example.test/hook", "v6.example.test resolves to ::1, a loopback, private, link-local or reserved address"),
    ],
)  # fmt: skip
async def test_private_targets_are_refused_on_create(
    client: httpx.AsyncClient, api_key: KeyFixture, url: str, reason: str
) -> None:
    response = await client.post(
        WEBHOOKS, json={"url": url, "enabled_events": ["*"]}, headers=api_key.headers
    )

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {"loc": ["body", "url"], "msg": f"Invalid url: {reason}", "type": "value_error"}
    ]


async def test_a_public_name_is_accepted(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    data = await create_webhook(client, api_key.headers, url=PUBLIC_URL)
    assert data["url"] == PUBLIC_URL


async def test_patching_to_a_private_url_is_refused(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    data = await create_webhook(client, api_key.headers)

    response = await client.patch(
        f"{WEBHOOKS}/{data['id']}", json={"url": "http://10.9.9.9/"}, headers=api_key.headers
    )

    assert response.status_code == 400
    fetched = await client.get(f"{WEBHOOKS}/{data['id']}", headers=api_key.headers)
    assert fetched.json()["url"] == PUBLIC_URL


async def test_the_oauth_token_url_is_guarded_too(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await client.post(
        WEBHOOKS,
        json={
            "url": PUBLIC_URL,
            "enabled_events": ["*"],
            "oauth_client_id": "c",
            "oauth_client_secret": "s",
            "oauth_token_url": "http://169.254.169.254/token",
        },
        headers=api_key.headers,
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "oauth_token_url"]


async def test_the_event_webhook_url_and_its_test_are_guarded(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    settings = await client.patch(
        f"{WEBHOOKS}/event/settings",
        json={"enabled": True, "url": "http://127.0.0.1:9/events"},
        headers=api_key.headers,
    )
    tested = await client.post(
        f"{WEBHOOKS}/event/test", json={"url": "http://10.0.0.1/"}, headers=api_key.headers
    )

    assert settings.status_code == 400
    assert tested.status_code == 400
    assert tested.json()["detail"][0]["msg"].startswith("Invalid url: 10.0.0.1 is a loopback")


async def test_http_is_refused_in_production(
    test_env: dict[str, str], dns_nameservers: list[str], dns: Zone, api_key: KeyFixture
) -> None:
    from scaisend_api.app import create_app

    dns.a(PUBLIC_HOST, PUBLIC_ADDRESS)
    settings = api_settings_for(test_env, dns_nameservers).model_copy(
        update={"environment": "production"}
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        plain = await http.post(
            WEBHOOKS,
            json={"url": f"http://{PUBLIC_HOST}/x", "enabled_events": ["*"]},
            headers=api_key.headers,
        )
        secure = await http.post(
            WEBHOOKS, json={"url": PUBLIC_URL, "enabled_events": ["*"]}, headers=api_key.headers
        )

    assert plain.status_code == 400
    assert plain.json()["detail"][0]["msg"] == "Invalid url: URL must use HTTPS in production"
    assert secure.status_code == 201
