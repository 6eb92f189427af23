"""`scaisend serve`: the API under uvicorn (uvloop + httptools)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (API_WORKERS).")] = None,
) -> None:
    """Run the HTTP API: /v3/*, /api/admin/*, /t/*, /i/*, /health, /ready."""
    import uvicorn

    from scaisend_api.settings import ApiSettings
    from scaisend_core.config import load_settings

    settings = load_settings(ApiSettings)  # fail fast on bad configuration
    uvicorn.run(
        "scaisend_api.app:create_served_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers or settings.api_workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        access_log=False,
        log_level=settings.log_level.lower(),
    )
