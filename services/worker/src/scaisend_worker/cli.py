"""`scaisend worker`: rendering, tracking and MIME on `email:process`, webhook delivery on
`webhook:deliver`, and the cron jobs (schedules, reconciler, stats, retention)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="worker")(worker)


def worker(
    burst: Annotated[
        bool, typer.Option("--burst", help="Drain both queues, then exit (no cron jobs).")
    ] = False,
) -> None:
    """Run the worker until SIGTERM/SIGINT; jobs in hand finish before it exits."""
    from scaisend_core.config import load_settings
    from scaisend_core.logs import configure_logging
    from scaisend_worker.config import WorkerConfig
    from scaisend_worker.runner import run_worker

    settings = load_settings(WorkerConfig)  # fail fast on bad configuration
    configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop, burst=burst)

    import uvloop

    uvloop.run(main())  # less CPU per job and per webhook request than the default loop
