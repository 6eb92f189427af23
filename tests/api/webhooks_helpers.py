"""Shared steps of the webhooks API tests: settings whose DNS is the loopback server (and, for
the SSRF tests, with private targets refused), and creating an endpoint."""

from __future__ import annotations

from typing import Any

import httpx

from scaisend_api.settings import ApiSettings

WEBHOOKS = "/v3/user/webhooks"
PUBLIC_HOST = "hooks.example.test"
PUBLIC_ADDRESS = "93.184.216.34"  # a globally routable address; nothing connects to it
PUBLIC_URL = f"https://{PUBLIC_HOST}/scaisend"


def api_settings_for(
    test_env: dict[str, str], nameservers: list[str], *, allow_private: bool = True
) -> ApiSettings:
    env = {k.lower(): v for k, v in test_env.items()}
    env["webhook_allow_private"] = str(allow_private).lower()
    return ApiSettings(**env, dns_nameservers=nameservers)


async def create_webhook(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str = PUBLIC_URL,
    events: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {"url": url, "enabled_events": events or ["delivered", "bounce"], **extra}
    response = await client.post(WEBHOOKS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
