"""Shared steps of the domains API tests: the settings that point verification at the loopback
DNS server, creating a domain, and publishing its records the way a customer would."""

from __future__ import annotations

from typing import Any

import httpx

from scaisend_api.settings import ApiSettings
from tests.fixtures.dns import Zone

DOMAINS = "/api/admin/domains"


def settings_with_dns(test_env: dict[str, str], nameservers: list[str]) -> ApiSettings:
    env = {k.lower(): v for k, v in test_env.items()}
    return ApiSettings(**env, dns_nameservers=nameservers)


async def create(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    domain: str = "mail.example.test",
    **extra: Any,
) -> dict[str, Any]:
    body = {"domain": domain, "dmarc_policy": "quarantine", "dmarc_rua_email": "dmarc@example.test"}
    response = await client.post(DOMAINS, json={**body, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def record(domain: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in domain["dns_records"] if r["name"] == name)
    return found


def publish(zone: Zone, domain: dict[str, Any], *names: str) -> None:
    """Publish the named records (all of them when none are named) exactly as shown."""
    for rec in domain["dns_records"]:
        if names and rec["name"] not in names:
            continue
        if rec["type"] == "TXT":
            zone.txt(rec["host"], rec["value"])
        else:
            zone.mx(rec["host"], (rec["priority"], rec["value"]))


async def verify(
    client: httpx.AsyncClient, headers: dict[str, str], domain_id: str
) -> dict[str, Any]:
    response = await client.post(f"{DOMAINS}/{domain_id}/verify", headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
