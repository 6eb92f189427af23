"""Run the worker: one arq Worker per queue (`email:process`, `webhook:deliver`) in one process,
sharing the clients opened once in the ctx. arq's Worker takes a single queue name, hence two.

- until `stop` is set: then no new jobs are taken, jobs in hand get WORKER_SHUTDOWN_TIMEOUT to
  finish (a job cancelled after that is put back on its queue by arq), webhook requests in
  flight are drained, and the clients close;
- `burst`: drain both queues and return (rounds until both are empty, since processing a
  message enqueues webhook deliveries). Cron jobs do not run in burst mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from arq.worker import Worker

from scaisend_core.metrics import metrics_server, sample_queues
from scaisend_core.queue.contracts import EMAIL_PROCESS, SMTP_DELIVER, WEBHOOK_DELIVER
from scaisend_core.queue.worker import BatchWorker
from scaisend_worker.config import WorkerConfig
from scaisend_worker.context import Clock, WorkerContext, from_ctx
from scaisend_worker.settings import JOB_TIMEOUT, WorkerSettings, shutdown, startup

log = logging.getLogger(__name__)

QUEUES = (EMAIL_PROCESS, WEBHOOK_DELIVER)
SAMPLE_INTERVAL = 15.0


@dataclass(frozen=True, slots=True)
class RunStats:
    complete: int
    failed: int
    retried: int


def make_workers(app: WorkerContext, ctx: dict[str, Any], *, burst: bool = False) -> list[Worker]:
    settings = app.settings
    return [
        # email:process starts a poll's jobs together, so its messages are processed in groups.
        (BatchWorker if queue == EMAIL_PROCESS else Worker)(
            functions=WorkerSettings.functions,
            queue_name=queue,
            # Cron ticks are enqueued on the first queue only: one tick, one job.
            cron_jobs=WorkerSettings.cron_jobs if queue == EMAIL_PROCESS and not burst else None,
            redis_pool=app.redis,
            burst=burst,
            handle_signals=False,
            max_jobs=settings.worker_concurrency,
            poll_delay=settings.worker_poll_delay,
            job_timeout=JOB_TIMEOUT,
            keep_result=WorkerSettings.keep_result,
            ctx=ctx,
        )
        for queue in QUEUES
    ]


async def run_worker(
    settings: WorkerConfig,
    *,
    stop: asyncio.Event | None = None,
    burst: bool = False,
    metrics: bool = True,
    clock: Clock | None = None,
) -> RunStats:
    async with _opened(settings, clock) as (app, ctx):
        workers = make_workers(app, ctx, burst=burst)
        if burst:
            await drain(workers)
        else:
            async with _observed(app, metrics):
                await serve(workers, stop or asyncio.Event(), settings.worker_shutdown_timeout)
    return RunStats(
        complete=sum(w.jobs_complete for w in workers),
        failed=sum(w.jobs_failed for w in workers),
        retried=sum(w.jobs_retried for w in workers),
    )


@contextlib.asynccontextmanager
async def _opened(
    settings: WorkerConfig, clock: Clock | None
) -> AsyncIterator[tuple[WorkerContext, dict[str, Any]]]:
    ctx: dict[str, Any] = {"config": settings, "clock": clock}
    await startup(ctx)
    try:
        yield from_ctx(ctx), ctx
    finally:
        await shutdown(ctx)


async def drain(workers: list[Worker]) -> None:
    redis = workers[0].pool
    while True:
        await asyncio.gather(*(w.main() for w in workers))
        depths = [await redis.zcard(w.queue_name) for w in workers]
        if not any(depths):
            return


async def serve(workers: list[Worker], stop: asyncio.Event, shutdown_timeout: float) -> None:
    mains = [asyncio.create_task(w.main(), name=f"arq:{w.queue_name}") for w in workers]
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({*mains, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    for worker in workers:
        worker.allow_pick_jobs = False
    in_hand = [t for w in workers for t in w.tasks.values() if not t.done()]
    if in_hand:
        log.info("stopping: waiting up to %.0fs for %d jobs", shutdown_timeout, len(in_hand))
        await asyncio.wait(in_hand, timeout=shutdown_timeout)
    for task in [t for w in workers for t in w.tasks.values()] + mains:
        task.cancel()
    await asyncio.gather(
        *mains, *(t for w in workers for t in w.tasks.values()), return_exceptions=True
    )
    for task in done:
        if task in mains and task.exception() is not None:
            raise RuntimeError("an arq worker stopped unexpectedly") from task.exception()


@contextlib.asynccontextmanager
async def _observed(app: WorkerContext, enabled: bool) -> AsyncIterator[None]:
    """/metrics and /health on METRICS_PORT, and queue depths sampled for them."""
    if not enabled or not app.settings.metrics_port:
        yield
        return
    async with metrics_server(app.settings.metrics_host, app.settings.metrics_port):
        sampler = asyncio.create_task(_sample(app))
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler


async def _sample(app: WorkerContext) -> None:
    while True:
        with contextlib.suppress(Exception):  # a Redis hiccup must not stop the worker
            await sample_queues(app.redis, (*QUEUES, SMTP_DELIVER))
        await asyncio.sleep(SAMPLE_INTERVAL)
