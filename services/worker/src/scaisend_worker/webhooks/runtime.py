"""What webhook delivery keeps for the life of a worker process: the HTTP sender, the DNS
resolver behind the SSRF guard, the per-endpoint lanes and an injectable clock. It lives in the
arq ctx under "webhooks": made by `open_webhook_runtime` in the worker's on_startup (or on first
use) and drained and closed by `close_webhook_runtime` in its on_shutdown."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scaisend_core.config import CoreSettings, load_settings
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory, create_engine, create_session_factory
from scaisend_core.dns import Resolver
from scaisend_core.models import utcnow
from scaisend_core.webhook_sender import WebhookSender
from scaisend_core.webhook_urls import UrlGuard, UrlPolicy
from scaisend_worker.webhooks.lanes import Lanes
from scaisend_worker.webhooks.recording import release

log = logging.getLogger(__name__)

CTX_KEY = "webhooks"
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Delivery knobs; the defaults are the documented behaviour."""

    timeout: float = 30.0  # a 2xx within 30 s is success
    endpoint_concurrency: int = 10  # requests in flight per ScaiSend endpoint and process
    sendgrid_concurrency: int = 2  # batches in flight per Event Webhook and process
    batch_max_events: int = 1000
    batch_max_bytes: int = 768 * 1024  # SendGrid's own batch cap
    # Claimed deliveries a ScaiSend lane queues, in multiples of its cap. A busy lane's claims
    # run back to back and each takes several round trips, so bigger claims mean more events
    # per second; the price is a longer lease on the last queued rows (see queued_lease) if
    # the process dies holding them.
    prefetch_rounds: int = 8
    lease_margin: float = 30.0  # a claim outlives the request's deadline by this much
    drain_timeout: float = 35.0  # how long shutdown waits for requests in flight

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout + self.lease_margin)

    def queued_lease(self, position: int, cap: int) -> timedelta:
        """The lease of a delivery with `position` units ahead of it in a lane of `cap` slots:
        it waits at most one deadline per full round of slots ahead, then has its own."""
        rounds = 1 + position // max(cap, 1)
        return timedelta(seconds=self.timeout * rounds + self.lease_margin)


class WebhookRuntime:
    def __init__(
        self,
        settings: CoreSettings,
        sessions: SessionFactory,
        secrets: SecretBox,
        *,
        options: WebhookOptions | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.secrets = secrets
        self.options = options or WebhookOptions()
        self.clock = clock
        self.resolver = Resolver.from_settings(settings)
        self.guard = UrlGuard.for_resolver(UrlPolicy.from_settings(settings), self.resolver)
        self.sender = WebhookSender(
            self.guard, timeout=self.options.timeout, clock=lambda: clock().timestamp()
        )
        self.lanes = Lanes(self)
        self._closers: list[Callable[[], Any]] = []

    async def aclose(self, *, drain: bool = True) -> None:
        """Finish requests in flight (bounded by drain_timeout), then cancel what is left; a
        cancelled delivery stays leased and pending, so the reconciler sends it again."""
        unstarted = await self.lanes.stop(self.options.drain_timeout if drain else 0.0)
        if unstarted:
            await self._release(unstarted)
        await self.sender.aclose()
        await self.resolver.close()
        for closer in self._closers:
            await closer()

    async def _release(self, delivery_ids: list[str]) -> None:
        """Claimed deliveries that never got a slot are due again at once, not after their
        lease, so the next worker sends them without waiting."""
        try:
            await release(self, delivery_ids)
        except Exception:
            log.exception("releasing %d unstarted webhook deliveries failed", len(delivery_ids))


def _settings_from(ctx: dict[str, Any]) -> CoreSettings:
    settings = ctx.get("settings")
    return settings if isinstance(settings, CoreSettings) else load_settings(CoreSettings)


def open_webhook_runtime(ctx: dict[str, Any]) -> WebhookRuntime:
    """For the worker's on_startup: make the runtime in the shared ctx, from the worker's
    clients when it has them (ctx["settings"], ["sessions"], ["secrets"]), else from the
    environment."""
    runtime = ctx.get(CTX_KEY)
    if not isinstance(runtime, WebhookRuntime):
        runtime = _build(ctx)
        ctx[CTX_KEY] = runtime
    return runtime


# arq hands every job a copy of the worker's ctx, so a runtime made on first use inside a job
# cannot be stored in it. For a worker whose on_startup did not call open_webhook_runtime, it is
# remembered by the Redis pool that arq puts in every copy, and goes when the pool goes.
_BY_POOL: weakref.WeakKeyDictionary[object, WebhookRuntime] = weakref.WeakKeyDictionary()


def webhook_runtime(ctx: dict[str, Any]) -> WebhookRuntime:
    """The process's runtime (see open_webhook_runtime)."""
    runtime = ctx.get(CTX_KEY)
    if isinstance(runtime, WebhookRuntime):
        return runtime
    pool = ctx.get("redis")
    if pool is None:
        return open_webhook_runtime(ctx)
    runtime = _BY_POOL.get(pool)
    if runtime is None:
        runtime = _BY_POOL[pool] = _build(ctx)
    return runtime


def _build(ctx: dict[str, Any]) -> WebhookRuntime:
    settings = _settings_from(ctx)
    sessions = ctx.get("sessions")
    engine = None
    if sessions is None:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
    secrets = ctx.get("secrets")
    if not isinstance(secrets, SecretBox):
        secrets = SecretBox(
            settings.secret_key.get_secret_value(),
            [s.get_secret_value() for s in settings.secret_key_previous],
        )
    runtime = WebhookRuntime(settings, sessions, secrets)
    if engine is not None:
        runtime._closers.append(engine.dispose)
    return runtime


async def close_webhook_runtime(ctx: dict[str, Any], *, drain: bool = True) -> None:
    """For the worker's on_shutdown: drain and close the runtime if one was made."""
    runtime = ctx.pop(CTX_KEY, None)
    pool = ctx.get("redis")
    if not isinstance(runtime, WebhookRuntime) and pool is not None:
        runtime = _BY_POOL.pop(pool, None)
    if isinstance(runtime, WebhookRuntime):
        await runtime.aclose(drain=drain)
