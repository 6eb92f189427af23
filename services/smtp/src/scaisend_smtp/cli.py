"""`scaisend smtp`: outbound delivery and the inbound DSN/ARF listener, in one process or split."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="smtp")(smtp)


def smtp(
    outbound_only: Annotated[
        bool, typer.Option("--outbound-only", help="Only deliver (smtp:deliver).")
    ] = False,
    inbound_only: Annotated[
        bool, typer.Option("--inbound-only", help="Only receive DSNs and ARF reports.")
    ] = False,
    burst: Annotated[
        bool, typer.Option("--burst", help="Drain the queues once, then exit.")
    ] = False,
) -> None:
    """Run the SMTP service: outbound MX delivery with DKIM, pools and retries, and the inbound
    listener for bounces (DSN) and feedback-loop reports (ARF)."""
    from scaisend_core.config import load_settings
    from scaisend_core.logs import configure_logging
    from scaisend_smtp.runner import run_smtp
    from scaisend_smtp.settings import SmtpSettings

    if outbound_only and inbound_only:
        raise typer.BadParameter("choose at most one of --outbound-only and --inbound-only")
    settings = load_settings(SmtpSettings)  # fail fast on bad configuration
    configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_smtp(
            settings, stop, outbound=not inbound_only, inbound=not outbound_only, burst=burst
        )

    import uvloop

    uvloop.run(main())  # measurably less CPU per delivery than the default loop
