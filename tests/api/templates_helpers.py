"""Helpers for the /v3/templates tests: create a template and add a version over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import KeyFixture


async def create(
    client: httpx.AsyncClient, key: KeyFixture, name: str = "welcome-email", **extra: Any
) -> dict[str, Any]:
    response = await client.post("/v3/templates", json={"name": name, **extra}, headers=key.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_version(
    client: httpx.AsyncClient, key: KeyFixture, template_id: str, **fields: Any
) -> dict[str, Any]:
    payload = {"name": "v1", "subject": "Hi {{name}}", "html_content": "<p>{{name}}</p>", **fields}
    response = await client.post(
        f"/v3/templates/{template_id}/versions", json=payload, headers=key.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
