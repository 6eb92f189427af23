"""/health says the process is up; /ready says MySQL and Redis answer."""

from __future__ import annotations

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI

from scaisend_core.db import create_engine_for_url


async def test_health_is_always_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


async def test_ready_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_not_ready_names_the_unreachable_dependencies(client: httpx.AsyncClient) -> None:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    state = app.state.scaisend
    live_redis, live_engine = state.redis, state.engine
    state.redis = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    state.engine = create_engine_for_url("mysql+asyncmy://root@127.0.0.1:1/none")
    try:
        response = await client.get("/ready")
    finally:
        await state.redis.aclose()
        await state.engine.dispose()
        state.redis, state.engine = live_redis, live_engine
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert {"database", "redis"} <= set(body)


@pytest.mark.parametrize("down", ["database", "redis"])
async def test_either_dependency_alone_makes_it_not_ready(
    client: httpx.AsyncClient, down: str
) -> None:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    state = app.state.scaisend
    live_redis, live_engine = state.redis, state.engine
    if down == "redis":
        state.redis = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    else:
        state.engine = create_engine_for_url("mysql+asyncmy://root@127.0.0.1:1/none")
    try:
        response = await client.get("/ready")
    finally:
        if down == "redis":
            await state.redis.aclose()
        else:
            await state.engine.dispose()
        state.redis, state.engine = live_redis, live_engine
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert set(body) == {"status", down}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'scaisend_api_requests_total{method="GET",route="/health",status="200"}' in response.text
    assert 'scaisend_queue_depth{queue="email:process"}' in response.text
