"""POST /v3/mail/send's fast path (fast_path.py) answers exactly as the middleware stack does:
for each outcome the same request goes once through the stack and once through the fast path,
and status, headers (X-RateLimit-*, Retry-After, WWW-Authenticate), body shape and the request
metrics must be the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from arq.connections import ArqRedis

from scaisend_api.app import create_app
from scaisend_api.fast_path import ScaiSendApp
from scaisend_api.observability import LATENCY, REQUESTS
from scaisend_api.settings import ApiSettings
from scaisend_api.state import AppState
from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from tests.api.helpers import SENDER_DOMAIN, FixedClock, add_verified_domain, mail_body
from tests.fixtures.factories import KeyFactory, KeyFixture

LIMIT = 2
VOLATILE = {"x-message-id", "date"}


@dataclass
class Served:
    http: httpx.AsyncClient
    app: ScaiSendApp
    redis: ArqRedis
    fast_calls: int = 0


@pytest.fixture
async def served(
    api_settings: ApiSettings, sessions: SessionFactory, redis: ArqRedis
) -> AsyncIterator[Served]:
    settings = api_settings.model_copy(update={"rate_limit_mail_send_per_second": LIMIT})
    app = create_app(settings)
    assert isinstance(app, ScaiSendApp)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://scaisend.test") as http,
    ):
        state: AppState = app.state.scaisend
        state.rate_limiter.clock = FixedClock(1_900_000_000.5)
        result = Served(http, app, redis)
        serve = app._serve

        async def counted(*args: Any) -> None:
            result.fast_calls += 1
            await serve(*args)

        app._serve = counted  # type: ignore[method-assign]
        yield result


@dataclass(frozen=True)
class Seen:
    status: int
    headers: dict[str, str]
    body: Any
    requests_counted: float
    latencies_observed: float


async def _send(served: Served, fast: bool, times: int, **kwargs: Any) -> Seen:
    """`times` requests in a fresh rate-limit window; what the last one saw."""
    for key in await served.redis.keys("ratelimit:*"):
        await served.redis.delete(key)
    served.app.fast_paths = fast
    calls = served.fast_calls
    for _ in range(times):
        response = await served.http.post("/v3/mail/send", **kwargs)
    assert served.fast_calls == calls + (times if fast else 0)
    status = str(response.status_code)
    return Seen(
        response.status_code,
        {k: v for k, v in response.headers.items() if k not in VOLATILE},
        _without_ids(orjson.loads(response.content)),
        REQUESTS.labels("POST", "/v3/mail/send", status)._value.get(),
        _observed(),
    )


def _observed() -> float:
    for metric in LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels["route"] == "/v3/mail/send":
                return sample.value
    return 0.0


def _without_ids(body: Any) -> Any:
    if isinstance(body, dict) and "message_id" in body:
        return {**body, "message_id": "?"}
    return body


async def _same_both_ways(served: Served, times: int = 1, **kwargs: Any) -> Seen:
    slow = await _send(served, False, times, **kwargs)
    fast = await _send(served, True, times, **kwargs)
    assert (fast.status, fast.headers, fast.body) == (slow.status, slow.headers, slow.body)
    assert fast.requests_counted == slow.requests_counted + 1  # the last one's status
    assert fast.latencies_observed == slow.latencies_observed + times
    return fast


async def test_an_accepted_send(
    served: Served, api_key: KeyFixture, tenant: Tenant, sessions: SessionFactory
) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)
    seen = await _same_both_ways(served, headers=api_key.headers, json=mail_body())
    assert seen.status == 202
    assert seen.headers["x-ratelimit-remaining"] == str(LIMIT - 1)


async def test_no_credentials(served: Served) -> None:
    seen = await _same_both_ways(served, json=mail_body())
    assert seen.status == 401
    assert seen.headers["www-authenticate"] == "Bearer"
    assert "x-ratelimit-limit" not in seen.headers


async def test_a_key_without_the_scope(
    served: Served, tenant: Tenant, key_factory: KeyFactory
) -> None:
    key = await key_factory(tenant, scopes=["templates.read"])
    seen = await _same_both_ways(served, headers=key.headers, json=mail_body())
    assert seen.status == 403
    assert seen.body["errors"][0]["message"] == "Missing required scope: mail.send"


async def test_a_full_window(served: Served, api_key: KeyFixture) -> None:
    seen = await _same_both_ways(served, LIMIT + 1, headers=api_key.headers, json=mail_body())
    assert seen.status == 429
    assert seen.headers["retry-after"] == "1"
    assert seen.headers["x-ratelimit-remaining"] == "0"


async def test_an_invalid_body(served: Served, api_key: KeyFixture) -> None:
    seen = await _same_both_ways(served, headers=api_key.headers, json={"subject": "x"})
    assert seen.status == 400
    assert seen.headers["x-ratelimit-remaining"] == str(LIMIT - 1)
    assert {"message", "field", "help"} <= set(seen.body["errors"][0])


async def test_an_unverified_sender_domain(served: Served, api_key: KeyFixture) -> None:
    seen = await _same_both_ways(served, headers=api_key.headers, json=mail_body())
    assert seen.status == 403
    assert seen.body["errors"][0]["field"] == "from"


async def test_a_body_too_large(served: Served, api_key: KeyFixture) -> None:
    headers = {**api_key.headers, "content-length": str(30 * 1024 * 1024)}
    seen = await _same_both_ways(served, headers=headers, content=b"{}")
    assert seen.status == 413


async def test_an_unexpected_exception(
    served: Served, api_key: KeyFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("scaisend_api.routes.mail_send.send_mail", broken)
    seen = await _same_both_ways(served, headers=api_key.headers, json=mail_body())
    assert seen.status == 500
    assert seen.body == {
        "errors": [{"message": "internal server error", "field": None, "help": None}]
    }


async def test_another_method_is_not_the_fast_path(served: Served, api_key: KeyFixture) -> None:
    response = await served.http.get("/v3/mail/send", headers=api_key.headers)
    assert response.status_code == 405
    assert served.fast_calls == 0


def test_a_stack_it_does_not_stand_for_has_no_fast_path(api_settings: ApiSettings) -> None:
    app = create_app(api_settings)
    assert isinstance(app, ScaiSendApp)
    app.add_middleware(_Passthrough)
    assert app._fast_routes() == {}


class _Passthrough:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
