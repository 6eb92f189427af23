"""`scaisend serve` runs create_served_app: once started, the start-up heap is frozen out of the
cyclic GC's sight and young collections run less often; the app as tests and `scaisend up`
build it leaves the GC alone."""

from __future__ import annotations

import gc

import pytest
import uvicorn
from arq.connections import ArqRedis

from scaisend_api import cli
from scaisend_api.app import YOUNG_GC_THRESHOLD, create_app
from scaisend_api.settings import ApiSettings
from scaisend_core.db import SessionFactory


async def test_the_served_app_freezes_its_start_up_heap(
    api_settings: ApiSettings, sessions: SessionFactory, redis: ArqRedis
) -> None:
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    app = create_app(api_settings, freeze_heap=True)
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_the_plain_app_leaves_the_gc_alone(
    api_settings: ApiSettings, sessions: SessionFactory, redis: ArqRedis
) -> None:
    thresholds = gc.get_threshold()
    app = create_app(api_settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds


def test_serve_runs_the_served_factory(
    test_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    for name, value in test_env.items():
        monkeypatch.setenv(name, value)
    cli.serve(host="127.0.0.1", port=8099, workers=1)
    ((args, kwargs),) = calls
    assert args == ("scaisend_api.app:create_served_app",)
    assert (kwargs["factory"], kwargs["loop"], kwargs["http"]) == (True, "uvloop", "httptools")
