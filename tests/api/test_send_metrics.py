"""Accepted sends are counted by mode on /metrics, one per message (personalization)."""

from __future__ import annotations

import re

import httpx

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from tests.api.helpers import SENDER_DOMAIN, add_verified_domain, mail_body
from tests.fixtures.factories import KeyFixture


async def _accepted(client: httpx.AsyncClient, mode: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf'^scaisend_sends_accepted_total{{mode="{mode}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_sends_accepted_are_counted_per_message_and_mode(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, sessions: SessionFactory
) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)
    live_before, sandbox_before = (
        await _accepted(client, "live"),
        await _accepted(client, "sandbox"),
    )
    two = mail_body()
    two["personalizations"] = [
        {"to": [{"email": "a@example.org"}]},
        {"to": [{"email": "b@example.org"}]},
    ]
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=two)
    ).status_code == 202
    sandbox = mail_body(mail_settings={"sandbox_mode": {"enable": True}})
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=sandbox)
    assert response.status_code == 202
    assert await _accepted(client, "live") == live_before + 2
    assert await _accepted(client, "sandbox") == sandbox_before + 1
