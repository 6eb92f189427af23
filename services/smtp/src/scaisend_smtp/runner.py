"""`scaisend smtp` in one process: the outbound arq worker on `smtp:deliver`, and the inbound
side (listener and `smtp:inbound` worker), plus /metrics and /health on METRICS_PORT.

Inbound contract (scaisend_smtp.inbound, optional at import time):
- `inbound.INBOUND_FUNCTIONS` and `inbound.inbound_crons()`: arq functions and crons for
  `smtp:inbound`. Their ctx holds `settings`
  (SmtpSettings), `sessions`, `storage`, `secrets`, `verp`, `jobs_redis` (the ArqRedis pool)
  and arq's own `redis`.
- `inbound.server.run_inbound(settings, stop)`: serves until `stop` is set."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from arq.cron import CronJob
from arq.worker import Function, Worker

from scaisend_core.metrics import metrics_server, sample_queues
from scaisend_core.queue.contracts import SMTP_DELIVER, SMTP_INBOUND
from scaisend_smtp.outbound.context import Outbound, open_outbound
from scaisend_smtp.outbound.settings import KEEP_RESULT, outbound_worker
from scaisend_smtp.settings import SmtpSettings

log = logging.getLogger(__name__)
DRAIN_TIMEOUT = 30.0
GEN0_THRESHOLD = 10_000  # CPython's default is 700 allocations
HOUSEKEEPING_INTERVAL = 15.0
InboundServer = Callable[[SmtpSettings, asyncio.Event], Coroutine[Any, Any, None]]


def inbound_functions() -> list[Function] | None:
    try:
        module = importlib.import_module("scaisend_smtp.inbound")
    except ImportError:
        return None
    functions: list[Function] | None = getattr(module, "INBOUND_FUNCTIONS", None)
    return functions


def inbound_crons() -> list[CronJob]:
    try:
        module = importlib.import_module("scaisend_smtp.inbound")
    except ImportError:
        return []
    make: Callable[[], list[CronJob]] | None = getattr(module, "inbound_crons", None)
    return make() if make is not None else []


def inbound_server() -> InboundServer | None:
    try:
        module = importlib.import_module("scaisend_smtp.inbound.server")
    except ImportError:
        return None
    server: InboundServer | None = getattr(module, "run_inbound", None)
    return server


async def run_smtp(
    settings: SmtpSettings,
    stop: asyncio.Event,
    *,
    outbound: bool = True,
    inbound: bool = True,
    burst: bool = False,
    metrics: bool = True,
) -> None:
    """Run until `stop` is set (or, with `burst`, until the queues are drained)."""
    async with AsyncExitStack() as stack:
        out = await stack.enter_async_context(open_outbound(settings))
        settle_heap()
        if metrics and settings.metrics_port and not burst:
            await stack.enter_async_context(
                metrics_server(settings.metrics_host, settings.metrics_port)
            )
        parts: list[Coroutine[Any, Any, None]] = []
        if outbound:
            parts.append(run_worker(outbound_worker(settings, out, burst=burst), stop))
        if inbound:
            parts += _inbound_parts(settings, out, stop, burst)
        if not burst:
            parts.append(housekeeping(out, stop, inbound=inbound))
        await asyncio.gather(*parts)


def settle_heap() -> None:
    """Once started, move everything allocated so far (modules, pools, cached keys and
    statements) out of the cyclic garbage collector's reach, and let the young generation grow
    larger before a collection.

    Deliveries allocate quickly and nearly everything dies young by reference counting, but
    every full collection walked the whole startup heap again: in bench/deliver.py the
    collector took 0.15-0.25 ms of CPU per message, with pauses up to 160 ms that stalled every
    SMTP conversation in flight. Frozen objects are still freed by reference counting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])


def _inbound_parts(
    settings: SmtpSettings, out: Outbound, stop: asyncio.Event, burst: bool
) -> list[Coroutine[Any, Any, None]]:
    parts: list[Coroutine[Any, Any, None]] = []
    functions = inbound_functions()
    if functions:
        worker = Worker(
            functions=functions, cron_jobs=inbound_crons(), queue_name=SMTP_INBOUND,
            redis_pool=out.redis,
            ctx=inbound_context(out), burst=burst, handle_signals=False,
            poll_delay=settings.smtp_poll_delay, keep_result=KEEP_RESULT, log_results=False,
        )  # fmt: skip
        parts.append(run_worker(worker, stop))
    server = inbound_server()
    if server is not None and not burst:
        parts.append(server(settings, stop))
    elif server is None:
        log.warning("the inbound listener is not installed in this build; outbound only")
    return parts


def inbound_context(out: Outbound) -> dict[str, Any]:
    return {
        "settings": out.settings,
        "sessions": out.sessions,
        "storage": out.storage,
        "secrets": out.secrets,
        "verp": out.verp,
        "jobs_redis": out.redis,
    }


async def run_worker(worker: Worker, stop: asyncio.Event, drain: float = DRAIN_TIMEOUT) -> None:
    """Run an arq worker until `stop`: then take no new jobs, let running ones finish (up to
    `drain` seconds), and cancel the rest (their messages are re-run from their state)."""
    main = asyncio.create_task(worker.main())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if main.done():
        main.result()  # burst mode drained the queue, or the worker failed
        return
    worker.allow_pick_jobs = False
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=drain)
    for task in worker.tasks.values():
        task.cancel()
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main


async def housekeeping(out: Outbound, stop: asyncio.Event, *, inbound: bool) -> None:
    """Close idle pooled connections and sample queue depths until `stop`."""
    queues = (SMTP_DELIVER, SMTP_INBOUND) if inbound else (SMTP_DELIVER,)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HOUSEKEEPING_INTERVAL)
        try:
            await out.pools.close_idle()
            await out.smarthost_pools.close_idle()
            await sample_queues(out.redis, queues)
        except Exception:  # housekeeping must never take the service down
            log.exception("smtp housekeeping failed")
