"""The worker's part of `scaisend up`: both queues and the cron jobs in the shared event loop;
the API serves /metrics for the whole process there."""

from __future__ import annotations

import asyncio

from scaisend_core.config import load_settings
from scaisend_worker.config import WorkerConfig
from scaisend_worker.runner import run_worker


async def run(stop: asyncio.Event) -> None:
    await run_worker(load_settings(WorkerConfig), stop=stop, metrics=False)
