"""Posting webhook requests: one pooled httpx client (HTTP/2 where offered) whose connections
only reach addresses the SSRF guard allows, a total deadline, no redirects, OAuth2
client-credentials bearer tokens cached until expiry, and a PostResult instead of exceptions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each new connection's host through the guard and connects to the address it
    approved, so a DNS answer cannot change between the check and the connect."""

    def __init__(self, guard: UrlGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._guard.address_for(host)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeWebhookUrl("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend. httpx takes no backend argument, so
    the pool is rebuilt with the same settings; no proxy, so nothing bypasses the guard."""

    def __init__(self, guard: UrlGuard, limits: httpx.Limits, *, http2: bool = True) -> None:
        super().__init__(limits=limits, http2=http2, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
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
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.tokens = TokenCache(clock)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(guard, limits, http2=http2),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
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
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status == 401 and oauth is not None:
            self.tokens.invalidate(oauth)  # a revoked token: fetch a fresh one next time
        duration = int((time.perf_counter() - started) * 1000)
        return PostResult(status, snippet, error, duration)

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self.client.stream("POST", url, content=body, headers=headers) as response:
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) >= SNIPPET_BYTES:
                    break
            return response.status_code, received[:SNIPPET_BYTES].decode("utf-8", "replace")
