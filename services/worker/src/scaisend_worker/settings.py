"""The arq declaration of the worker: functions, cron jobs, startup/shutdown hooks. `scaisend
worker` (runner.py) runs these functions on `email:process` and on `webhook:deliver`, with the
cron jobs ticking on `email:process`.

The ctx holds, after startup: "worker" (the typed WorkerContext) and the shared clients under
"settings", "engine", "sessions", "redis", "storage", "secrets" and "templates"."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from scaisend_core.config import load_settings
from scaisend_core.models import utcnow
from scaisend_core.queue.contracts import EMAIL_PROCESS
from scaisend_worker.config import WorkerConfig
from scaisend_worker.context import open_context
from scaisend_worker.jobs import CRON_JOBS, FUNCTIONS
from scaisend_worker.jobs.process_message import close_groups, open_groups
from scaisend_worker.webhooks import (
    WEBHOOK_CRON_JOBS,
    WEBHOOK_FUNCTIONS,
    close_webhook_runtime,
    open_webhook_runtime,
)

_STACK = "_scaisend_exit_stack"
JOB_TIMEOUT = 300


async def startup(ctx: dict[str, Any]) -> None:
    """Open the shared clients into ctx ("config" and "clock" in ctx override the defaults)."""
    settings = ctx.get("config") or load_settings(WorkerConfig)
    stack = AsyncExitStack()
    app = await stack.enter_async_context(
        open_context(settings, redis=ctx.get("redis"), clock=ctx.get("clock") or utcnow)
    )
    ctx.update(app.as_ctx())
    ctx[_STACK] = stack
    open_groups(ctx)
    open_webhook_runtime(ctx)  # one webhook runtime (HTTP client, lanes) for the process


async def shutdown(ctx: dict[str, Any]) -> None:
    """Finish the message group in hand, drain webhook requests in flight, then close the
    clients."""
    await close_groups(ctx)
    await close_webhook_runtime(ctx)
    stack = ctx.pop(_STACK, None)
    if isinstance(stack, AsyncExitStack):
        await stack.aclose()


class WorkerSettings:
    functions = [*FUNCTIONS, *WEBHOOK_FUNCTIONS]
    cron_jobs = [*CRON_JOBS, *WEBHOOK_CRON_JOBS]
    queue_name = EMAIL_PROCESS
    on_startup = startup
    on_shutdown = shutdown
    # Results are not kept: re-enqueueing a deterministic job id (the reconciler) must work.
    keep_result = 0
    max_jobs = 20
    job_timeout = JOB_TIMEOUT
