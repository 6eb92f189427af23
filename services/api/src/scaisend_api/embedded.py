"""The API's part of `scaisend up`: uvicorn inside the shared event loop until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from scaisend_api.app import create_app
from scaisend_api.settings import ApiSettings
from scaisend_core.config import load_settings


class _QuietServer(uvicorn.Server):
    """`scaisend up` owns SIGINT/SIGTERM; uvicorn must not replace its handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: uvicorn.Server) -> None:
    """uvicorn calls sys.exit when it cannot bind or start the app; inside `scaisend up` that
    must be this service's error (the supervisor then stops the others and Redis cleanly),
    not a SystemExit that tears the event loop down mid-flight."""
    try:
        await server.serve()
    except SystemExit as exited:
        where = f"{server.config.host}:{server.config.port}"
        raise RuntimeError(
            f"the API could not start on {where} (uvicorn exit {exited.code}; see above)"
        ) from None


async def run(stop: asyncio.Event) -> None:
    settings = load_settings(ApiSettings)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        loop="none",  # already inside `scaisend up`'s loop
        lifespan="on",
        access_log=False,
        log_config=None,  # keep `scaisend up`'s prefixed handler
    )
    server = _QuietServer(config)
    serving = asyncio.create_task(_serve(server), name="uvicorn")
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if serving in done:
        stopping.cancel()
        serving.result()  # re-raise a startup failure (port in use, bad settings)
        raise RuntimeError("the API server stopped on its own")
    server.should_exit = True
    await serving
