"""The webhook HTTP client on real sockets: kept-alive connections, TLS verified against the URL's
name while connecting to the address the SSRF guard approved, HTTP/2 when the receiver offers
it, and a receiver that hangs up mid-request reported as an error, not raised."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.config
import h2.connection
import h2.events
import trustme

from scaisend_core.webhook_sender import WebhookSender
from scaisend_core.webhook_urls import UrlGuard, UrlPolicy

ALLOW_LOOPBACK = UrlPolicy(allow_private=True, require_https=False)


async def no_dns(name: str) -> list[str]:
    raise AssertionError(f"unexpected DNS lookup of {name}")


class Http1(asyncio.Protocol):
    """Answers every request 200 "ok" on the same connection; counts connections."""

    connections = 0

    def __init__(self, seen: list[bytes]) -> None:
        self.seen = seen
        self.buffer = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        Http1.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1")
            length = next(
                int(line.split(":")[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            )
            if len(self.buffer) < end + 4 + length:
                return
            self.seen.append(self.buffer[end + 4 : end + 4 + length])
            self.buffer = self.buffer[end + 4 + length :]
            if self.seen[-1] == b"hang up":
                self.transport.abort()
                return
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


class Http2(asyncio.Protocol):
    """A bare HTTP/2 server (the h2 package): 202 "accepted" to every stream."""

    def __init__(self, seen: list[dict[str, str]]) -> None:
        self.seen = seen
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.seen.append(dict(event.headers))  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)  # type: ignore[arg-type]
            elif isinstance(event, h2.events.StreamEnded):
                stream = event.stream_id
                assert stream is not None
                self.conn.send_headers(stream, [(":status", "202"), ("content-length", "8")])
                self.conn.send_data(stream, b"accepted", end_stream=True)
        self.transport.write(self.conn.data_to_send())


@asynccontextmanager
async def serve(
    protocol: Callable[[], asyncio.Protocol], tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@asynccontextmanager
async def sender(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[WebhookSender]:
    client = WebhookSender(UrlGuard(ALLOW_LOOPBACK, no_dns), timeout=5.0, ssl_context=ssl_context)
    try:
        yield client
    finally:
        await client.aclose()


def tls_pair(*alpn: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for "localhost", client context trusting its CA)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    if alpn:
        server.set_alpn_protocols(list(alpn))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_requests_reuse_one_kept_alive_connection() -> None:
    seen: list[bytes] = []
    Http1.connections = 0
    async with serve(lambda: Http1(seen)) as port, sender() as client:
        results = [
            await client.post(f"http://127.0.0.1:{port}/hook", b"%d" % n, {}) for n in range(5)
        ]
    assert [(r.ok, r.status_code, r.response) for r in results] == [(True, 200, "ok")] * 5
    assert seen == [b"0", b"1", b"2", b"3", b"4"]
    assert Http1.connections == 1


async def test_a_receiver_that_hangs_up_is_an_error_on_the_result() -> None:
    async with serve(lambda: Http1([])) as port, sender() as client:
        result = await client.post(f"http://127.0.0.1:{port}/hook", b"hang up", {})
    assert (result.ok, result.status_code) == (False, None)
    assert "RemoteProtocolError" in (result.error or "")


async def test_tls_is_verified_against_the_urls_name() -> None:
    """ "localhost" is approved by the guard as 127.0.0.1; the certificate is checked for the
    name, and an untrusted certificate is a failed attempt, not a delivery."""
    server_tls, client_tls = tls_pair()
    async with serve(lambda: Http1([]), server_tls) as port:
        async with sender(client_tls) as client:
            trusted = await client.post(f"https://localhost:{port}/hook", b"{}", {})
        async with sender() as client:  # the system's CAs do not know the test CA
            untrusted = await client.post(f"https://localhost:{port}/hook", b"{}", {})
    assert (trusted.ok, trusted.status_code, trusted.response) == (True, 200, "ok")
    assert untrusted.ok is False
    assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.error or "")


async def test_http2_is_used_when_the_receiver_offers_it() -> None:
    seen: list[dict[str, str]] = []
    server_tls, client_tls = tls_pair("h2")
    async with serve(lambda: Http2(seen), server_tls) as port, sender(client_tls) as client:
        results = [
            await client.post(f"https://localhost:{port}/hook", b'{"n":1}', {"x-n": str(n)})
            for n in range(2)
        ]
    assert [(r.ok, r.status_code, r.response) for r in results] == [(True, 202, "accepted")] * 2
    assert [(h[":method"], h[":path"], h["x-n"]) for h in seen] == [
        ("POST", "/hook", "0"),
        ("POST", "/hook", "1"),
    ]
