"""Fixtures for the inbound listener and its processor: settings on a free loopback port, the
processing context on the test database/Redis/storage, a listener factory and a burst drain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.storage import LocalStorage
from scaisend_smtp.inbound.handler import InboundHandler
from scaisend_smtp.inbound.hosts import ReturnPathHosts
from scaisend_smtp.inbound.process import InboundContext, inbound_worker
from scaisend_smtp.inbound.server import listening, verp_for
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.storage import free_port


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    hosts: ReturnPathHosts


ListenerFactory = Callable[..., AbstractAsyncContextManager[Listener]]


@pytest.fixture
def inbound_settings(test_env: dict[str, str]) -> SmtpSettings:
    env = {**test_env, "SMTP_INBOUND_HOST": "127.0.0.1", "SMTP_INBOUND_PORT": str(free_port())}
    return SmtpSettings(**{k.lower(): v for k, v in env.items()})


@pytest.fixture
def inbound_context(
    sessions: SessionFactory,
    local_storage: LocalStorage,
    redis: ArqRedis,
    inbound_settings: SmtpSettings,
) -> InboundContext:
    return InboundContext(sessions, local_storage, redis, verp_for(inbound_settings))


@pytest.fixture
def start_listener(
    inbound_settings: SmtpSettings, inbound_context: InboundContext
) -> ListenerFactory:
    """`async with start_listener(smtp_inbound_max_size=1000) as listener:` with overrides."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Listener]:
        settings = inbound_settings.model_copy(update=overrides)
        ctx = inbound_context
        hosts = ReturnPathHosts(ctx.sessions, settings.inbound_host)
        await hosts.refresh()
        handler = InboundHandler(hosts, ctx.verp, ctx.storage, ctx.redis)
        async with listening(settings, handler):
            yield Listener(settings.smtp_inbound_host, settings.smtp_inbound_port, hosts)

    return start


@pytest.fixture
def drain(inbound_context: InboundContext, redis: ArqRedis) -> Callable[[], Any]:
    """Run every queued `process_inbound` job with a burst worker; returns the worker."""

    async def run() -> Any:
        worker = inbound_worker(inbound_context, redis_pool=redis, burst=True)
        await worker.main()
        return worker

    return run
