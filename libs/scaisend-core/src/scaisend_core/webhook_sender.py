"""Posting webhook requests: kept-alive connections that only reach addresses the SSRF guard
allows, HTTP/2 where the receiver offers it, a total deadline, no redirects, OAuth2
client-credentials bearer tokens cached until expiry, and a PostResult instead of exceptions.

Requests go through the lean HTTP/1.1 pool of webhook_http (a fraction of httpx's CPU per
request); the pooled httpx client takes what that pool leaves to it: receivers that choose
HTTP/2 in TLS's ALPN, unusual URLs, and the OAuth2 token requests."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from scaisend_core.webhook_http import Http1Pool, Http2Offered, HttpError
from scaisend_core.webhook_urls import UnsafeWebhookUrl, UrlGuard

DEFAULT_TIMEOUT = 30.0  # docs: a 2xx within 30 s is success
SNIPPET_BYTES = 1024
TOKEN_EXPIRY_MARGIN = 30.0  # renew a little early so a token never expires mid-request
DEFAULT_TOKEN_LIFETIME = 3600.0


@dataclass(frozen=True, slots=True)
class PostResult:
    status_code: int | None
    response: str  # the first SNIPPET_BYTES of the body, for the deliveries log
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class OAuthCredentials:
    token_url: str
    client_id: str
    client_secret: str


class OAuthError(Exception):
    """The token URL did not hand out an access token."""


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection on asyncio's own streams. httpcore's anyio stream opens a cancel scope
    for every read and write and rebuilds the socket's attribute table on every pool check;
    profiled on loopback, that was about a fifth of a webhook request's CPU."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's interface)
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's interface)
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("write timed out") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # No wait for the peer: a receiver that stopped reading must not hold a shutdown.
        self._writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            await self.aclose()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except OSError as exc:  # ssl.SSLError included
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle connection with something to read has been closed by the server; the
            # transport has already read that end-of-stream into the reader.
            return self._reader.at_eof() or self._writer.is_closing()
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername",
                 "socket": "socket"}  # fmt: skip
        return self._writer.get_extra_info(names[info]) if info in names else None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each new connection's host through the guard and connects to the address it
    approved, so a DNS answer cannot change between the check and the connect."""

    def __init__(self, guard: UrlGuard) -> None:
        self._guard = guard

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._guard.address_for(host)
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(address, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeWebhookUrl("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend. httpx takes no backend argument, so
    the pool is rebuilt with the same settings; no proxy, so nothing bypasses the guard."""

    def __init__(
        self,
        guard: UrlGuard,
        limits: httpx.Limits,
        *,
        http2: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits, http2=http2, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedBackend(guard),
        )


class TokenCache:
    """Access tokens per (token URL, client id), fetched once even when many deliveries ask."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def invalidate(self, creds: OAuthCredentials) -> None:
        self._tokens.pop((creds.token_url, creds.client_id), None)

    async def token(self, client: httpx.AsyncClient, creds: OAuthCredentials) -> str:
        key = (creds.token_url, creds.client_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            token, lifetime = await _fetch_token(client, creds)
            self._tokens[key] = (token, self._clock() + max(lifetime - TOKEN_EXPIRY_MARGIN, 1.0))
            return token


async def _fetch_token(client: httpx.AsyncClient, creds: OAuthCredentials) -> tuple[str, float]:
    """RFC 6749 §4.4 client-credentials grant; credentials in the form body, as SendGrid does."""
    try:
        response = await client.post(
            creds.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
            headers={"Accept": "application/json"},
        )
        payload = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError) as exc:
        raise OAuthError(f"token request failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
        raise OAuthError(f"token URL answered HTTP {response.status_code} without an access_token")
    expires_in = payload.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else DEFAULT_TOKEN_LIFETIME
    return payload["access_token"], lifetime


class WebhookSender:
    """Owns the client; create inside the running loop and `aclose()` when done."""

    def __init__(
        self,
        guard: UrlGuard,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 1000,
        http2: bool = True,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,  # the system's CAs unless given (tests)
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.tokens = TokenCache(clock)
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(guard, limits, http2=http2, ssl_context=ssl_context),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )
        self.http1 = Http1Pool(guard, ssl_context, http2=http2, max_connections=max_connections)

    async def aclose(self) -> None:
        await self.http1.aclose()
        await self.client.aclose()

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        oauth: OAuthCredentials | None = None,
    ) -> PostResult:
        """One attempt; everything that can go wrong becomes `error` on the result."""
        started = time.perf_counter()
        status: int | None = None
        snippet, error = "", None
        try:
            async with asyncio.timeout(self.timeout):
                self.guard.check_static(url)
                if oauth is not None:
                    bearer = await self.tokens.token(self.client, oauth)
                    headers = {**headers, "Authorization": f"Bearer {bearer}"}
                status, snippet = await self._send(url, body, headers)
        except UnsafeWebhookUrl as exc:
            error = f"refused: {exc.reason}"
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except OAuthError as exc:
            error = f"oauth: {exc}"
        except (httpx.HTTPError, HttpError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status == 401 and oauth is not None:
            self.tokens.invalidate(oauth)  # a revoked token: fetch a fresh one next time
        duration = int((time.perf_counter() - started) * 1000)
        return PostResult(status, snippet, error, duration)

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if self.http1.handles(url):
            try:
                response = await self.http1.post(url, body, headers, SNIPPET_BYTES)
            except Http2Offered:
                pass  # the origin is remembered: httpx from now on
            else:
                return response.status_code, response.body.decode("utf-8", "replace")
        return await self._send_httpx(url, body, headers)

    async def _send_httpx(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self.client.stream("POST", url, content=body, headers=headers) as response:
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) >= SNIPPET_BYTES:
                    break
            return response.status_code, received[:SNIPPET_BYTES].decode("utf-8", "replace")
