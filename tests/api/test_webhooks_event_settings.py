"""SendGrid's Event Webhook settings: the settings object with one switch per event type,
signing on/off with the ECDSA public key returned as SendGrid does, and the test button posting
sample events to a real loopback receiver."""

from __future__ import annotations

import base64

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.models import EndpointKind, WebhookEndpoint
from tests.api.webhooks_helpers import WEBHOOKS
from tests.fixtures.factories import KeyFixture
from tests.fixtures.http_receiver import Receiver, Reply

SETTINGS = f"{WEBHOOKS}/event/settings"
SIGNED = f"{WEBHOOKS}/event/settings/signed"
SWITCHES = [
    "processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
    "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
]  # fmt: skip
SPKI_P256_PREFIX = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"


async def test_unconfigured_settings_are_all_off(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await client.get(SETTINGS, headers=api_key.headers)

    assert response.status_code == 200
    assert response.json() == {
        "enabled": False,
        "url": "",
        **dict.fromkeys(SWITCHES, False),
        "oauth_client_id": "",
        "oauth_token_url": "",
    }


async def test_patch_sets_the_url_and_switches_and_get_returns_them(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    http_receiver: Receiver,
    sessions: SessionFactory,
) -> None:
    body = {"enabled": True, "url": http_receiver.url("/events"), "delivered": True, "bounce": True}

    patched = await client.patch(SETTINGS, json=body, headers=api_key.headers)
    partial = await client.patch(SETTINGS, json={"open": True}, headers=api_key.headers)
    fetched = await client.get(SETTINGS, headers=api_key.headers)

    assert patched.status_code == 200
    assert partial.json() == fetched.json()
    data = fetched.json()
    assert (data["enabled"], data["url"]) == (True, http_receiver.url("/events"))
    assert [name for name in SWITCHES if data[name]] == ["delivered", "bounce", "open"]
    async with sessions() as session:
        [row] = (await session.exec(select(WebhookEndpoint))).all()
    assert (row.kind, row.enabled_events) == (
        EndpointKind.SENDGRID,
        ["delivered", "bounce", "open"],
    )


async def test_enabling_without_a_url_is_a_400(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await client.patch(SETTINGS, json={"enabled": True}, headers=api_key.headers)
    assert response.status_code == 400
    assert response.json()["detail"][0]["msg"] == "A url is required to enable the Event Webhook"


async def test_signing_returns_a_p256_public_key_and_disabling_deletes_it(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    first = (await client.patch(SIGNED, json={"enabled": True}, headers=api_key.headers)).json()
    again = (await client.get(SIGNED, headers=api_key.headers)).json()
    off = (await client.patch(SIGNED, json={"enabled": False}, headers=api_key.headers)).json()
    second = (await client.patch(SIGNED, json={"enabled": True}, headers=api_key.headers)).json()

    key = first["public_key"]
    assert key.startswith(SPKI_P256_PREFIX)
    public = load_der_public_key(base64.b64decode(key))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    assert again == {"public_key": key}
    assert off == {"public_key": ""}
    assert second["public_key"].startswith(SPKI_P256_PREFIX)
    assert second["public_key"] != key


async def test_the_test_button_posts_signed_sample_events(
    client: httpx.AsyncClient, api_key: KeyFixture, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(200))
    signed = await client.patch(SIGNED, json={"enabled": True}, headers=api_key.headers)
    public_key = signed.json()["public_key"]

    response = await client.post(
        f"{WEBHOOKS}/event/test",
        json={"url": http_receiver.url("/events")},
        headers=api_key.headers,
    )

    assert response.status_code == 204
    [request] = http_receiver.on("/events")
    assert EventWebhook(public_key).verify_signature(
        request.body.decode(),
        request.headers[EventWebhookHeader.SIGNATURE],
        request.headers[EventWebhookHeader.TIMESTAMP],
    )
    events = request.json()
    assert isinstance(events, list)
    assert {e["event"] for e in events} == {
        "processed", "deferred", "delivered", "bounce", "dropped", "open", "click",
        "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe",
    }  # fmt: skip


async def test_the_test_button_reports_what_the_receiver_answered(
    client: httpx.AsyncClient, api_key: KeyFixture, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(503))

    response = await client.post(
        f"{WEBHOOKS}/event/test",
        json={"url": http_receiver.url("/events")},
        headers=api_key.headers,
    )

    assert response.status_code == 400
    assert response.json()["detail"][0]["msg"] == "The test events were not accepted: HTTP 503"


async def test_the_test_button_uses_oauth_when_given(
    client: httpx.AsyncClient, api_key: KeyFixture, http_receiver: Receiver
) -> None:
    http_receiver.respond("/events", Reply(200))
    http_receiver.token_endpoint("/token", token="tkn")

    response = await client.post(
        f"{WEBHOOKS}/event/test",
        json={
            "url": http_receiver.url("/events"),
            "oauth_client_id": "id",
            "oauth_client_secret": "secret",
            "oauth_token_url": http_receiver.url("/token"),
        },
        headers=api_key.headers,
    )

    assert response.status_code == 204
    assert http_receiver.on("/events")[0].headers["Authorization"] == "Bearer tkn"


async def test_settings_need_the_webhook_permissions(
    client: httpx.AsyncClient,
    tenant,
    key_factory,  # type: ignore[no-untyped-def]
) -> None:
    reader = await key_factory(tenant, scopes=["webhooks.read"])

    assert (await client.get(SETTINGS, headers=reader.headers)).status_code == 200
    assert (await client.get(SIGNED, headers=reader.headers)).status_code == 200
    assert (await client.patch(SETTINGS, json={}, headers=reader.headers)).status_code == 403
    assert (
        await client.patch(SIGNED, json={"enabled": True}, headers=reader.headers)
    ).status_code == 403
