"""Rate limits: counted in Redis per route policy, 429 with Retry-After and X-RateLimit-* once a
window is full, the headers on successful responses too, and a fresh window lets requests in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import APIRouter, FastAPI

from scaisend_api.app import create_app
from scaisend_api.deps import PrincipalDep
from scaisend_api.settings import ApiSettings
from scaisend_api.state import AppState
from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from tests.fixtures.factories import KeyFactory, KeyFixture

probe = APIRouter()


@probe.get("/v3/_limited")
async def _limited(principal: PrincipalDep) -> dict[str, str]:
    return {"ok": "yes"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limited(
    api_settings: ApiSettings, sessions: SessionFactory, redis: ArqRedis
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState, Clock]]:
    settings = api_settings.model_copy(update={"rate_limit_default_per_second": 2})
    app: FastAPI = create_app(settings)
    app.include_router(probe)
    clock = Clock(1_900_000_000.25)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        state: AppState = app.state.scaisend
        state.rate_limiter.clock = clock
        yield http, state, clock


async def test_successful_responses_carry_the_window(
    limited: tuple[httpx.AsyncClient, AppState, Clock], api_key: KeyFixture
) -> None:
    http, _, _ = limited
    response = await http.get("/v3/_limited", headers=api_key.headers)
    assert response.status_code == 200
    assert response.headers["x-ratelimit-limit"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "1"
    assert response.headers["x-ratelimit-reset"] == "1900000001"


async def test_a_full_window_answers_429_with_retry_after(
    limited: tuple[httpx.AsyncClient, AppState, Clock], api_key: KeyFixture
) -> None:
    http, _, _ = limited
    for _ in range(2):
        assert (await http.get("/v3/_limited", headers=api_key.headers)).status_code == 200
    response = await http.get("/v3/_limited", headers=api_key.headers)
    assert response.status_code == 429
    assert response.json() == {"detail": "Rate limit exceeded"}
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-ratelimit-limit"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == "1900000001"


async def test_the_next_window_lets_requests_in_again(
    limited: tuple[httpx.AsyncClient, AppState, Clock], api_key: KeyFixture
) -> None:
    http, _, clock = limited
    for _ in range(3):
        await http.get("/v3/_limited", headers=api_key.headers)
    clock.now += 1
    assert (await http.get("/v3/_limited", headers=api_key.headers)).status_code == 200


async def test_each_credential_has_its_own_default_window(
    limited: tuple[httpx.AsyncClient, AppState, Clock],
    api_key: KeyFixture,
    tenant: Tenant,
    key_factory: KeyFactory,
) -> None:
    http, _, _ = limited
    other = await key_factory(tenant)
    for _ in range(3):
        await http.get("/v3/_limited", headers=api_key.headers)
    assert (await http.get("/v3/_limited", headers=other.headers)).status_code == 200


async def test_counters_live_in_redis(
    limited: tuple[httpx.AsyncClient, AppState, Clock], api_key: KeyFixture, redis: ArqRedis
) -> None:
    http, _, _ = limited
    await http.get("/v3/_limited", headers=api_key.headers)
    key = f"ratelimit:default:{api_key.row.id}:1900000000"
    assert await redis.get(key) == b"1"
    assert 0 < await redis.ttl(key) <= 2


async def test_unauthenticated_routes_are_not_counted(
    limited: tuple[httpx.AsyncClient, AppState, Clock], redis: ArqRedis
) -> None:
    http, _, _ = limited
    for _ in range(3):
        assert (await http.get("/health")).status_code == 200
    assert await redis.keys("ratelimit:*") == []


async def test_concurrent_requests_share_a_round_trip_but_each_gets_its_own_count(
    limited: tuple[httpx.AsyncClient, AppState, Clock],
    api_key: KeyFixture,
    tenant: Tenant,
    key_factory: KeyFactory,
    redis: ArqRedis,
) -> None:
    """Five requests at once on a limit of 2 (and one on another key): exactly two pass with
    remaining 1 and 0, three are 429, as five INCRs one after the other would decide."""
    http, _, _ = limited
    other = await key_factory(tenant)
    responses = await asyncio.gather(
        *(http.get("/v3/_limited", headers=api_key.headers) for _ in range(5)),
        http.get("/v3/_limited", headers=other.headers),
    )
    mine, theirs = responses[:5], responses[5]
    assert sorted(r.status_code for r in mine) == [200, 200, 429, 429, 429]
    passed = [r.headers["x-ratelimit-remaining"] for r in mine if r.status_code == 200]
    assert sorted(passed) == ["0", "1"]
    assert theirs.status_code == 200
    assert theirs.headers["x-ratelimit-remaining"] == "1"
    assert await redis.get(f"ratelimit:default:{api_key.row.id}:1900000000") == b"5"
