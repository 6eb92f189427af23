"""Every /v3 and /api/admin route of the app declares exactly one of the 17 permissions through
RequirePermission (apart from a short, documented allowlist), and a key holding every permission
but that one gets a 403 naming it. Generic: it walks app.routes, so routers added later are
covered without touching this file."""

from __future__ import annotations

import re

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from scaisend_api.deps import RequirePermission, get_principal
from scaisend_core.models import Tenant
from scaisend_core.permissions import ALL_PERMISSIONS, PERMISSION_NAMES
from tests.api.helpers import app_of
from tests.fixtures.factories import KeyFactory

GUARDED_PREFIXES = ("/v3/", "/api/admin/")
# Documented exceptions: authenticated, but no particular permission.
ANY_AUTHENTICATED = {
    ("GET", "/v3/scopes"): "reference/api-keys: /v3/scopes is not gated by admin.api_keys",
    ("GET", "/v3/messages"): "reference/messages: plain reads for any caller of the tenant",
    ("GET", "/v3/messages/{message_id}"): "reference/messages: plain reads, as above",
}


def _calls(dependant: Dependant) -> list[object]:
    out: list[object] = []
    for sub in dependant.dependencies:
        out.append(sub.call)
        out.extend(_calls(sub))
    return out


def guarded_routes(client: httpx.AsyncClient) -> list[tuple[str, str, Dependant]]:
    """(method, full path, dependant) of every API route under the guarded prefixes; FastAPI
    keeps included routers nested, so walk the effective routes rather than app.routes."""
    return [
        (method, str(context.path), context.dependant)
        for context in iter_route_contexts(app_of(client).routes)
        if isinstance(context.original_route, APIRoute)
        and str(context.path).startswith(GUARDED_PREFIXES)
        for method in sorted(context.methods or ())
    ]


def permissions_of(dependant: Dependant) -> set[str]:
    return {c.permission for c in _calls(dependant) if isinstance(c, RequirePermission)}


async def test_every_route_declares_exactly_one_permission(client: httpx.AsyncClient) -> None:
    problems = []
    routes = guarded_routes(client)
    assert len(routes) > 20  # the mail, key, message and batch routes at least
    for method, path, dependant in routes:
        found = permissions_of(dependant)
        if (method, path) in ANY_AUTHENTICATED:
            if found or get_principal not in _calls(dependant):
                problems.append(
                    f"{method} {path}: allowlisted, must authenticate without a permission"
                )
        elif len(found) != 1 or not found <= ALL_PERMISSIONS:
            problems.append(f"{method} {path}: permissions {sorted(found)}")
    assert problems == []


async def test_a_key_without_the_permission_is_refused_naming_it(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    keys = {
        permission: await key_factory(
            tenant, scopes=[p for p in PERMISSION_NAMES if p != permission]
        )
        for permission in PERMISSION_NAMES
    }
    problems = []
    for method, path, dependant in guarded_routes(client):
        if (method, path) in ANY_AUTHENTICATED:
            continue
        [permission] = permissions_of(dependant)
        url = re.sub(r"\{[^}]+\}", "probe-0", path)
        response = await client.request(method, url, headers=keys[permission].headers)
        body = response.json()
        message = body["errors"][0]["message"] if "errors" in body else body.get("detail")
        if response.status_code != 403 or message != f"Missing required scope: {permission}":
            problems.append(f"{method} {path}: {response.status_code} {body}")
    assert problems == []


async def test_allowlisted_routes_still_need_a_credential(client: httpx.AsyncClient) -> None:
    for method, path in ANY_AUTHENTICATED:
        url = re.sub(r"\{[^}]+\}", "probe-0", path)
        response = await client.request(method, url)
        assert response.status_code == 401, path
