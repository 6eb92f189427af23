"""The SMTP service's part of `scaisend up`: outbound (capture mode by default) and inbound in
the shared event loop; the API serves /metrics for the whole process there."""

from __future__ import annotations

import asyncio

from scaisend_core.config import load_settings
from scaisend_smtp.runner import run_smtp
from scaisend_smtp.settings import SmtpSettings


async def run(stop: asyncio.Event) -> None:
    await run_smtp(load_settings(SmtpSettings), stop, metrics=False)
