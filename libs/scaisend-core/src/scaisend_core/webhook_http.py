"""A lean HTTP/1.1 keep-alive client for webhook POSTs, on asyncio streams.

Why: a webhook request through httpx costs about half a millisecond of CPU on loopback (request
and response models, cookie and auth handling, h11's state machine, the pool's bookkeeping),
which capped one worker below the 1,000 events/s of issue 8. A POST of a known body needs far
less: one write of head and body, one read of the head, and the body read (or skipped) so the
connection can be reused.

What it keeps from the httpx client it stands in for: connections only to the address the SSRF
guard approved for the URL's host (TLS still verified against the name), redirects returned as
they are (never followed), the response status and the first bytes of the body, connections
reused while kept alive (closed after `keepalive_expiry` idle, or when the server says close),
and a failure raised as an HttpError named after httpx's (ConnectError, RemoteProtocolError, …)
so the deliveries log reads the same. The caller bounds the whole exchange with its deadline;
a connection whose exchange was interrupted is closed, never reused.

What it leaves to httpx (`Http1Pool.handles` is False, or Http2Offered is raised): URLs with
userinfo, non-ASCII hosts or paths httpx would percent-encode, and TLS receivers that choose
HTTP/2 in ALPN (the origin is remembered and goes to httpx from then on)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from scaisend_core.webhook_urls import UrlGuard

KEEPALIVE_EXPIRY = 5.0  # httpx's default: an idle connection older than this is not reused
MAX_IDLE_PER_ORIGIN = 32
MAX_HEAD_BYTES = 64 * 1024  # a response head larger than this is a protocol error
MAX_DRAIN_BYTES = 64 * 1024  # a longer body is not read to the end: the connection is closed
_TARGET_CACHE_SIZE = 4096
_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
_NO_BODY_STATUSES = frozenset((204, 304))
_PATH_UNSAFE = frozenset(' "<>\\^`{|}')

Origin = tuple[str, str, int]  # scheme, host, port


class HttpError(Exception):
    """A request that got no usable response; the class name says what kind (as httpx's do)."""


class ConnectError(HttpError):
    """No connection: refused, unreachable, or the TLS handshake failed."""


class ReadError(HttpError):
    """The receiver hung up or the socket failed while the response was read."""


class WriteError(HttpError):
    """The socket failed while the request was written."""


class RemoteProtocolError(HttpError):
    """The receiver answered with something that is not HTTP/1.x."""


class LocalProtocolError(HttpError):
    """The request itself cannot be sent (e.g. CR/LF in a header value)."""


class Http2Offered(Exception):
    """The TLS receiver chose HTTP/2: send this request (and the origin's next ones) with a
    client that speaks it."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    body: bytes  # at most the `keep` bytes the caller asked for, decoded if gzip/deflate


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    request_prefix: bytes  # "POST <path> HTTP/1.1\r\nHost: …\r\n" and the fixed headers


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        """Still open on both ends (an idle connection the server closed has its EOF read
        already) and not idle for longer than the keep-alive expiry."""
        return (
            now - self.idle_since < expiry
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        # No wait for the peer: a receiver that stopped reading must not hold anyone.
        self.writer.transport.abort()


def _parse_target(url: str) -> _Target | None:
    """The origin and request head prefix for `url`, or None for a URL this client leaves to
    httpx. The URL has passed the guard's static check (http(s), a host, a valid port)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None or not host.isascii():
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not path.isascii() or not path.isprintable() or any(c in _PATH_UNSAFE for c in path):
        return None
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    prefix = (
        f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: */*\r\n"
        "Accept-Encoding: identity\r\nConnection: keep-alive\r\n"
    )
    return _Target((parts.scheme, host, port), prefix.encode("ascii"))


def _encode_headers(headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"Content-Length: {len(body)}\r\n"]
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n \t") or "\r" in value or "\n" in value:
            raise LocalProtocolError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    try:
        return "".join(lines).encode("latin-1") + _CRLF
    except UnicodeEncodeError:
        raise LocalProtocolError("header values must be latin-1") from None


@dataclass(slots=True)
class _Head:
    status: int
    keep_alive: bool
    length: int | None  # Content-Length, None when absent
    chunked: bool
    encoding: str


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise RemoteProtocolError(f"malformed status line {lines[0][:64]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise RemoteProtocolError(f"malformed status line {lines[0][:64]!r}") from None
    if not 100 <= status <= 999:
        raise RemoteProtocolError(f"malformed status line {lines[0][:64]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError(f"malformed header line {line[:64]!r}")
        key = name.lower()
        value = value.strip()
        if key in fields and key == "content-length" and fields[key] != value:
            raise RemoteProtocolError("conflicting Content-Length headers")
        fields[key] = (
            f"{fields[key]}, {value}" if key in fields and key != "content-length" else value
        )
    connection = {t.strip().lower() for t in fields.get("connection", "").split(",")}
    http10 = status_line[0] == "HTTP/1.0"
    keep_alive = "close" not in connection and (not http10 or "keep-alive" in connection)
    chunked = "chunked" in fields.get("transfer-encoding", "").lower()
    length = None
    if "content-length" in fields and not chunked:
        try:
            length = int(fields["content-length"])
        except ValueError:
            raise RemoteProtocolError("malformed Content-Length") from None
        if length < 0:
            raise RemoteProtocolError("malformed Content-Length")
    return _Head(status, keep_alive, length, chunked, fields.get("content-encoding", "").lower())


class _Body:
    """Collects the first `keep` bytes of a response body and counts the rest."""

    __slots__ = ("keep", "kept", "parts", "seen")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.parts: list[bytes] = []
        self.kept = 0
        self.seen = 0

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        if self.kept < self.keep:
            part = data[: self.keep - self.kept]
            self.parts.append(part)
            self.kept += len(part)

    def bytes(self, encoding: str) -> bytes:
        data = b"".join(self.parts)
        if encoding in ("gzip", "x-gzip", "deflate") and data:
            # Asked for identity; a receiver that compresses anyway still gets a readable log.
            wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
            with contextlib.suppress(zlib.error):
                data = zlib.decompressobj(wbits).decompress(data, self.keep)
        return data


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise RemoteProtocolError("peer closed connection without sending complete body") from None


async def _read_chunked(reader: asyncio.StreamReader, body: _Body) -> bool:
    """Read a chunked body; False when it is longer than MAX_DRAIN_BYTES (left unread)."""
    while True:
        line = await _read_line(reader)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise RemoteProtocolError("malformed chunk size") from None
        if size == 0:
            while await _read_line(reader):  # trailer fields, up to the empty line
                pass
            return True
        if body.seen + size > MAX_DRAIN_BYTES:
            if body.kept < body.keep:
                body.add(await _read_exactly(reader, min(size, body.keep - body.kept)))
            return False
        body.add(await _read_exactly(reader, size))
        if await _read_exactly(reader, 2) != _CRLF:
            raise RemoteProtocolError("malformed chunk end")


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return (await reader.readuntil(_CRLF))[:-2]
    except asyncio.IncompleteReadError:
        raise RemoteProtocolError("peer closed connection without sending complete body") from None
    except asyncio.LimitOverrunError:
        raise RemoteProtocolError("chunk line too long") from None


async def _read_to_eof(reader: asyncio.StreamReader, body: _Body) -> None:
    """A body delimited by the connection's end: keep the start, stop reading after it."""
    while body.kept < body.keep:
        data = await reader.read(body.keep - body.kept)
        if not data:
            return
        body.add(data)


async def _read_body(reader: asyncio.StreamReader, head: _Head, body: _Body) -> bool:
    """Read the response body into `body`; False when the connection cannot carry another
    request (the body was too long to read to its end, or ends with the connection)."""
    if head.status in _NO_BODY_STATUSES:
        return True
    if head.status == 101:  # switched away from HTTP: nothing more to read as a response
        return False
    if head.chunked:
        return await _read_chunked(reader, body)
    if head.length is not None:
        if head.length <= MAX_DRAIN_BYTES:
            body.add(await _read_exactly(reader, head.length))
            return True
        body.add(await _read_exactly(reader, min(body.keep, head.length)))
        return False
    await _read_to_eof(reader, body)
    return False


class Http1Pool:
    """Kept-alive HTTP/1.1 connections per origin. Concurrency is bounded by the callers (a lane
    per endpoint) and by `max_connections` requests in flight overall."""

    def __init__(
        self,
        guard: UrlGuard,
        ssl_context: ssl.SSLContext,
        *,
        http2: bool = True,
        max_connections: int = 1000,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._guard = guard
        self._ssl = ssl_context
        self._http2 = http2
        self._expiry = keepalive_expiry
        self._clock = clock
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._targets: dict[str, _Target | None] = {}
        self._http2_origins: set[Origin] = set()
        self.connections_opened = 0  # for tests and the benchmark

    def _target(self, url: str) -> _Target | None:
        target = self._targets.get(url, False)
        if target is False:
            if len(self._targets) >= _TARGET_CACHE_SIZE:
                self._targets.clear()
            target = self._targets[url] = _parse_target(url)
        return target  # type: ignore[return-value]

    def handles(self, url: str) -> bool:
        """False for URLs left to httpx: odd ones, and origins that chose HTTP/2."""
        target = self._target(url)
        return target is not None and target.origin not in self._http2_origins

    async def post(self, url: str, body: bytes, headers: dict[str, str], keep: int) -> Response:
        """POST `body`; the status and the first `keep` bytes of the response body. Raises
        HttpError, Http2Offered, or the guard's UnsafeWebhookUrl for a refused address."""
        target = self._target(url)
        if target is None:
            raise ValueError(f"not an HTTP/1.1 fast-path URL: {url}")
        request = target.request_prefix + _encode_headers(headers, body) + body
        async with self._slots:
            connection = self._checkout(target.origin)
            if connection is None:
                connection = await self._connect(target.origin)
            try:
                response, reusable = await self._exchange(connection, request, keep)
            except BaseException:
                connection.close()  # interrupted mid-exchange: never reuse
                raise
            if reusable:
                self._checkin(target.origin, connection)
            else:
                connection.close()
            return response

    def _checkout(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = self._clock()
        while idle:
            connection = idle.pop()
            if connection.usable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _checkin(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = self._clock()
        idle.append(connection)

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        self._sweep()
        address = await self._guard.address_for(host)
        tls = self._ssl if scheme == "https" else None
        if tls is not None:
            tls.set_alpn_protocols(["http/1.1", "h2"] if self._http2 else ["http/1.1"])
        try:
            reader, writer = await asyncio.open_connection(
                address, port, ssl=tls, server_hostname=host if tls else None,
                limit=MAX_HEAD_BYTES,
            )  # fmt: skip
        except OSError as exc:  # ssl.SSLError (an untrusted certificate) included
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        connection = _Connection(reader, writer)
        self.connections_opened += 1
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            connection.close()
            self._http2_origins.add(origin)
            raise Http2Offered(f"{host}:{port} speaks HTTP/2")
        return connection

    def _sweep(self) -> None:
        """Close idle connections past their expiry (for origins no longer posted to)."""
        now = self._clock()
        for origin, idle in list(self._idle.items()):
            fresh = []
            for connection in idle:
                if connection.usable(now, self._expiry):
                    fresh.append(connection)
                else:
                    connection.close()
            if fresh:
                self._idle[origin] = fresh
            else:
                del self._idle[origin]

    async def _exchange(
        self, connection: _Connection, request: bytes, keep: int
    ) -> tuple[Response, bool]:
        reader, writer = connection.reader, connection.writer
        try:
            writer.write(request)
            await writer.drain()
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        head = await self._read_head(reader)
        body = _Body(keep)
        try:
            complete = await _read_body(reader, head, body)
        except OSError as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc
        response = Response(head.status, body.bytes(head.encoding))
        return response, complete and head.keep_alive

    async def _read_head(self, reader: asyncio.StreamReader) -> _Head:
        while True:
            try:
                raw = await reader.readuntil(_HEAD_END)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise RemoteProtocolError("peer closed connection mid-response") from None
                raise RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from None
            except asyncio.LimitOverrunError:
                raise RemoteProtocolError("response head too large") from None
            except OSError as exc:
                raise ReadError(str(exc) or type(exc).__name__) from exc
            head = _parse_head(raw[:-4])
            if head.status >= 200 or head.status == 101:
                return head
            # 1xx (100 Continue, 103 Early Hints): an interim head, the real one follows.

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
