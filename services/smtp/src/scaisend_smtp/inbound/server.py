"""The inbound listener of `scaisend smtp`: aiosmtpd on SMTP_INBOUND_HOST:PORT in the running
loop, with STARTTLS when a certificate is configured, the SMTP_INBOUND_MAX_SIZE data limit (552
beyond), an idle-command timeout and a per-IP concurrent connection limit."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiosmtpd.smtp import SMTP

from scaisend_core.config import CoreSettings
from scaisend_core.db import create_engine, create_session_factory
from scaisend_core.queue.connection import create_arq_pool
from scaisend_core.storage import open_storage
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import replies
from scaisend_smtp.inbound.handler import InboundHandler
from scaisend_smtp.inbound.hosts import ReturnPathHosts

# RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command.
COMMAND_TIMEOUT = 300.0
log = logging.getLogger(__name__)


class ConnectionLimiter:
    """Open connections per client IP, owned by one listener."""

    def __init__(self, per_ip: int) -> None:
        self.per_ip = per_ip
        self._open: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        if self._open[ip] >= self.per_ip:
            return False
        self._open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self._open[ip] -= 1
        if self._open[ip] <= 0:
            del self._open[ip]


class LimitedSMTP(SMTP):  # type: ignore[misc]  # aiosmtpd ships no type information
    """aiosmtpd's protocol with a 421 for a client IP over its connection limit."""

    def __init__(self, handler: InboundHandler, *, limiter: ConnectionLimiter, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self._limiter = limiter
        self._counted_ip: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # a new connection; STARTTLS calls this again with TLS
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "unknown"
            if not self._limiter.acquire(ip):
                self._refused = True
                log.info("refused connection from %s: over the per-IP limit", ip)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(f"{replies.TOO_MANY_CONNECTIONS}\r\n".encode())
                transport.close()
                return
            self._counted_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted_ip is not None:
            self._limiter.release(self._counted_ip)
            self._counted_ip = None
        super().connection_lost(error)


def tls_context(settings: CoreSettings) -> ssl.SSLContext | None:
    if not (settings.smtp_inbound_tls_cert and settings.smtp_inbound_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_inbound_tls_cert, settings.smtp_inbound_tls_key)
    return context


@asynccontextmanager
async def listening(
    settings: CoreSettings, handler: InboundHandler
) -> AsyncIterator[asyncio.Server]:
    """The listener, serving until the block exits (port 0 picks a free port; see sockets)."""
    loop = asyncio.get_running_loop()
    limiter = ConnectionLimiter(settings.smtp_inbound_max_connections_per_ip)
    tls = tls_context(settings)

    def protocol() -> LimitedSMTP:
        return LimitedSMTP(
            handler,
            limiter=limiter,
            data_size_limit=settings.smtp_inbound_max_size,
            enable_SMTPUTF8=True,  # RFC 6533 DSNs for internationalised mail
            hostname=settings.ehlo_hostname,
            ident="ScaiSend inbound",
            tls_context=tls,
            timeout=COMMAND_TIMEOUT,
            loop=loop,
        )

    server = await loop.create_server(
        protocol, host=settings.smtp_inbound_host, port=settings.smtp_inbound_port
    )
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def verp_for(settings: CoreSettings) -> Verp:
    return Verp(
        settings.secret_key.get_secret_value(),
        [s.get_secret_value() for s in settings.secret_key_previous],
    )


async def run_inbound(settings: CoreSettings, stop: asyncio.Event) -> None:
    """Serve port 25 until `stop` is set: the listener and the return-path host cache it reads.
    What it stores is processed by INBOUND_FUNCTIONS on `smtp:inbound` (the runner's worker)."""
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        sessions = create_session_factory(engine)
        storage = await stack.enter_async_context(open_storage(settings))
        redis = await create_arq_pool(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        hosts = ReturnPathHosts(sessions, settings.inbound_host)
        handler = InboundHandler(hosts, verp_for(settings), storage, redis)
        async with asyncio.TaskGroup() as group:
            group.create_task(hosts.keep_fresh(stop))
            group.create_task(_listen_until(settings, handler, stop))


async def _listen_until(
    settings: CoreSettings, handler: InboundHandler, stop: asyncio.Event
) -> None:
    async with listening(settings, handler) as server:
        log.info("inbound SMTP listening on %s", [s.getsockname() for s in server.sockets])
        await stop.wait()
