"""DKIM rotation through the API: a pending key under the other selector, signing switching
only once its record verifies; and the private key never leaving in a response or a log."""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest
from sqlmodel import select

from scaisend_api.settings import ApiSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.models import SenderDomain
from scaisend_core.signing import SigningKeys
from tests.api.domains_helpers import DOMAINS, create, publish, record, settings_with_dns, verify
from tests.fixtures.dns import Zone
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.factories import KeyFixture

HOST = "mail.example.test"


@pytest.fixture
def api_settings(test_env: dict[str, str], dns_nameservers: list[str]) -> ApiSettings:
    return settings_with_dns(test_env, dns_nameservers)


@pytest.fixture
async def verified(client: httpx.AsyncClient, api_key: KeyFixture, dns: Zone) -> dict[str, Any]:
    domain = await create(client, api_key.headers, domain=HOST)
    publish(dns, domain)
    assert (await verify(client, api_key.headers, domain["id"]))["verified"] is True
    return domain


async def rotate(
    client: httpx.AsyncClient, headers: dict[str, str], domain_id: str
) -> httpx.Response:
    return await client.post(f"{DOMAINS}/{domain_id}/rotate", headers=headers)


async def signing_selector(sessions: SessionFactory, keys: SigningKeys) -> str:
    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
        material = await keys.for_sender(session, row.tenant_id, f"hello@{HOST}")
    assert material is not None
    return material.keys[0].selector


async def test_rotate_publishes_a_new_key_under_scaisend2_and_keeps_the_old_one(
    client: httpx.AsyncClient, api_key: KeyFixture, verified: dict[str, Any]
) -> None:
    response = await rotate(client, api_key.headers, verified["id"])

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["dkim_selector"], data["pending_selector"]) == ("scaisend", "scaisend2")
    assert data["verified"] is True  # the current key still signs
    pending = record(data, "dkim_pending")
    assert pending["host"] == f"scaisend2._domainkey.{HOST}"
    assert pending["value"] != record(verified, "dkim")["value"]
    assert record(data, "dkim")["value"] == record(verified, "dkim")["value"]


async def test_rotating_while_a_rotation_is_pending_is_409(
    client: httpx.AsyncClient, api_key: KeyFixture, verified: dict[str, Any]
) -> None:
    await rotate(client, api_key.headers, verified["id"])
    response = await rotate(client, api_key.headers, verified["id"])
    assert response.status_code == 409
    assert "already pending" in response.json()["detail"]


async def test_signing_stays_on_the_old_key_until_the_new_record_verifies(
    client: httpx.AsyncClient, api_key: KeyFixture, verified: dict[str, Any],
    sessions: SessionFactory,
) -> None:  # fmt: skip
    keys = SigningKeys(SecretBox(TEST_SECRET_KEY))
    await rotate(client, api_key.headers, verified["id"])

    result = await verify(client, api_key.headers, verified["id"])  # new record not published

    assert (result["dkim_selector"], result["pending_selector"]) == ("scaisend", "scaisend2")
    assert record(result, "dkim_pending")["valid"] is False
    assert await signing_selector(sessions, keys) == "scaisend"


async def test_signing_switches_once_the_new_record_verifies(
    client: httpx.AsyncClient, api_key: KeyFixture, verified: dict[str, Any], dns: Zone,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    keys = SigningKeys(SecretBox(TEST_SECRET_KEY))
    assert await signing_selector(sessions, keys) == "scaisend"  # cached in this process
    rotated = (await rotate(client, api_key.headers, verified["id"])).json()["data"]
    publish(dns, rotated, "dkim_pending")

    result = await verify(client, api_key.headers, verified["id"])

    assert (result["dkim_selector"], result["pending_selector"]) == ("scaisend2", None)
    assert result["verified"] is True
    assert record(result, "dkim")["value"] == record(rotated, "dkim_pending")["value"]
    assert [r["name"] for r in result["dns_records"]].count("dkim_pending") == 0
    assert await signing_selector(sessions, keys) == "scaisend2"


async def test_the_next_rotation_goes_back_to_the_first_selector(
    client: httpx.AsyncClient, api_key: KeyFixture, verified: dict[str, Any], dns: Zone
) -> None:
    rotated = (await rotate(client, api_key.headers, verified["id"])).json()["data"]
    publish(dns, rotated, "dkim_pending")
    await verify(client, api_key.headers, verified["id"])

    again = (await rotate(client, api_key.headers, verified["id"])).json()["data"]

    assert (again["dkim_selector"], again["pending_selector"]) == ("scaisend2", "scaisend")


async def test_private_keys_never_appear_in_responses_or_logs(
    client: httpx.AsyncClient, api_key: KeyFixture, dns: Zone, sessions: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    bodies = []
    created = await create(client, api_key.headers, domain=HOST, ed25519=True)
    publish(dns, created)
    bodies.append(
        (await client.post(f"{DOMAINS}/{created['id']}/verify", headers=api_key.headers)).text
    )
    bodies.append((await rotate(client, api_key.headers, created["id"])).text)
    bodies.append((await client.get(f"{DOMAINS}/{created['id']}", headers=api_key.headers)).text)
    bodies.append((await client.get(DOMAINS, headers=api_key.headers)).text)
    bodies.append(str(created))

    secrets = SecretBox(TEST_SECRET_KEY)
    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
    sealed = [row.dkim_private_key, row.pending_private_key, row.ed25519_private_key]
    fragments = []
    for token in sealed:
        assert token is not None
        pem = secrets.decrypt(token, context=row.id).decode()
        body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
        fragments += [token, body[40:100], base64.b64decode(body).hex()[:64]]
    everything = "\n".join(bodies) + "\n" + caplog.text
    assert "PRIVATE KEY" not in everything
    for fragment in fragments:
        assert fragment not in everything
    assert "private" not in "".join(bodies).lower()
