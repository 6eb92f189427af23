"""Small helpers for API tests: the app state behind the in-process client."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from scaisend_api.state import AppState


def app_of(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return app


def state_of(client: httpx.AsyncClient) -> AppState:
    state: AppState = app_of(client).state.scaisend
    return state


class FixedClock:
    """An injectable clock for the rate limiter: time moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
