"""The lean HTTP/1.1 webhook client (webhook_http, behind WebhookSender.post) against real loopback
servers: what the receiver answers on the wire decides the result, connections are reused only
when the response allows it, and every way a request can fail is a failed attempt with a reason,
never an exception."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from scaisend_core.webhook_http import Http1Pool
from scaisend_core.webhook_sender import WebhookSender
from scaisend_core.webhook_urls import UrlGuard, UrlPolicy

ALLOW_LOOPBACK = UrlPolicy(allow_private=True, require_https=False)
Answer = Callable[[bytes, bytes], list[bytes] | None]  # (head, body) -> what to write, None: hold


async def no_dns(name: str) -> list[str]:
    raise AssertionError(f"unexpected DNS lookup of {name}")


class Receiver:
    """A loopback HTTP/1.1 server that parses requests (Content-Length bodies) and writes what
    `answer` returns, piece by piece; None holds the request unanswered."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.lost = 0  # connections the client closed (or lost)
        self.requests: list[tuple[bytes, bytes]] = []
        self.transports: list[asyncio.Transport] = []

    def protocol(self) -> asyncio.Protocol:
        receiver = self

        class Http(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport, self.buffer = transport, b""
                receiver.connections += 1
                receiver.transports.append(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                receiver.lost += 1

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                    head = self.buffer[:end]
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    if len(self.buffer) < end + 4 + length:
                        return
                    body = self.buffer[end + 4 : end + 4 + length]
                    self.buffer = self.buffer[end + 4 + length :]
                    receiver.requests.append((head, body))
                    for piece in receiver.answer(head, body) or []:
                        if piece == b"<close>":
                            self.transport.close()
                            return
                        self.transport.write(piece)

        return Http()


@asynccontextmanager
async def serve(answer: Answer) -> AsyncIterator[tuple[str, Receiver]]:
    receiver = Receiver(answer)
    server = await asyncio.get_running_loop().create_server(receiver.protocol, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", receiver
    finally:
        for transport in receiver.transports:
            transport.abort()
        server.close()


@asynccontextmanager
async def sender(deadline: float = 5.0) -> AsyncIterator[WebhookSender]:
    client = WebhookSender(UrlGuard(ALLOW_LOOPBACK, no_dns), timeout=deadline)
    try:
        yield client
    finally:
        await client.aclose()


def ok(head: bytes, body: bytes) -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]


async def test_the_request_on_the_wire() -> None:
    async with serve(ok) as (base, receiver), sender() as client:
        headers = {"Content-Type": "application/json", "webhook-id": "evt_1"}
        result = await client.post(f"{base}/hooks/a?x=1&y=2", b'{"a":1}', headers)
    assert (result.ok, result.status_code, result.response, result.error) == (True, 200, "ok", None)
    head, body = receiver.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hooks/a?x=1&y=2 HTTP/1.1"
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    port = base.rsplit(":", 1)[1]
    assert fields["host"] == f"127.0.0.1:{port}"
    assert fields["content-length"] == "7"
    assert fields["content-type"] == "application/json"
    assert fields["webhook-id"] == "evt_1"
    assert body == b'{"a":1}'


async def test_a_kept_alive_connection_carries_every_request() -> None:
    async with serve(ok) as (base, receiver), sender() as client:
        results = [await client.post(f"{base}/h", b"%d" % n, {}) for n in range(5)]
        opened = client.http1.connections_opened
    assert [r.ok for r in results] == [True] * 5
    assert [body for _, body in receiver.requests] == [b"0", b"1", b"2", b"3", b"4"]
    assert (receiver.connections, opened) == (1, 1)


async def test_concurrent_requests_open_one_connection_each_and_then_reuse_them() -> None:
    async with serve(ok) as (base, receiver), sender() as client:
        for _ in range(3):
            results = await asyncio.gather(*(client.post(f"{base}/h", b"x", {}) for _ in range(4)))
            assert all(r.ok for r in results)
    assert receiver.connections == 4
    assert len(receiver.requests) == 12


async def test_a_chunked_response_is_read_whole_and_the_connection_reused() -> None:
    def chunked(head: bytes, body: bytes) -> list[bytes]:
        return [
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5;ext=1\r\nhello\r\n",
            b"6\r\n world\r\n",
            b"0\r\nX-Trailer: t\r\n\r\n",
        ]

    async with serve(chunked) as (base, receiver), sender() as client:
        results = [await client.post(f"{base}/h", b"{}", {}) for _ in range(3)]
    assert [(r.ok, r.status_code, r.response) for r in results] == [(True, 202, "hello world")] * 3
    assert receiver.connections == 1


async def test_connection_close_and_http_1_0_are_not_reused() -> None:
    answers = iter(
        [
            [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", b"<close>"],
            [b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"<close>"],
            [b"HTTP/1.0 200 OK\r\n\r\nto the end", b"<close>"],
        ]
    )
    async with serve(lambda h, b: next(answers)) as (base, receiver), sender() as client:
        results = [await client.post(f"{base}/h", b"{}", {}) for _ in range(3)]
    assert [(r.ok, r.response) for r in results] == [
        (True, "ok"),
        (True, "ok"),
        (True, "to the end"),
    ]
    assert receiver.connections == 3


async def test_a_redirect_is_not_followed() -> None:
    def redirect(head: bytes, body: bytes) -> list[bytes]:
        return [b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n"]

    async with serve(redirect) as (base, receiver), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.status_code, result.error) == (False, 307, None)
    assert [head.split(b"\r\n")[0] for head, _ in receiver.requests] == [b"POST /h HTTP/1.1"]


async def test_interim_responses_are_skipped() -> None:
    def early_hints(head: bytes, body: bytes) -> list[bytes]:
        return [
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
        ]

    async with serve(early_hints) as (base, _), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.status_code, result.response) == (False, 500, "oops")


async def test_only_the_start_of_a_long_body_is_kept_and_its_connection_dropped() -> None:
    big = b"x" * 200_000

    def long_body(head: bytes, body: bytes) -> list[bytes]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big), big]

    async with serve(long_body) as (base, receiver), sender() as client:
        results = [await client.post(f"{base}/h", b"{}", {}) for _ in range(2)]
    assert [(r.ok, len(r.response)) for r in results] == [(True, 1024)] * 2
    assert receiver.connections == 2


async def test_a_compressed_answer_is_logged_readable() -> None:
    packed = gzip.compress(b"accepted, thanks")

    def compressed(head: bytes, body: bytes) -> list[bytes]:
        return [
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            % len(packed),
            packed,
        ]

    async with serve(compressed) as (base, _), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.response) == (True, "accepted, thanks")


async def test_a_receiver_that_never_answers_times_out_and_its_connection_is_dropped() -> None:
    async with serve(lambda h, b: None) as (base, receiver), sender(deadline=0.3) as client:
        result = await client.post(f"{base}/h", b"{}", {})
        await asyncio.sleep(0.05)  # the abort reaches the receiver
        lost = receiver.lost
    assert (result.ok, result.status_code, result.error) == (False, None, "timed out after 0.3 s")
    assert (receiver.connections, lost) == (1, 1)


async def test_a_slow_receiver_within_the_deadline_succeeds() -> None:
    loop = asyncio.get_running_loop()
    slow = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"

    async with serve(lambda h, b: None) as (base, receiver), sender(deadline=2.0) as client:
        loop.call_later(0.2, lambda: receiver.transports[0].write(slow))
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.response) == (True, "slow")
    assert result.duration_ms >= 150


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serve(ok) as (base, _):
        pass  # the port is closed again
    async with sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.status_code) == (False, None)
    assert (result.error or "").startswith("ConnectError: ")


async def test_a_receiver_that_hangs_up_mid_response_is_an_error() -> None:
    def cut(head: bytes, body: bytes) -> list[bytes]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", b"<close>"]

    async with serve(cut) as (base, _), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.status_code) == (False, None)
    assert (result.error or "").startswith("RemoteProtocolError: ")


async def test_a_malformed_response_is_a_protocol_error() -> None:
    async with serve(lambda h, b: [b"HTTP/1.1 OK\r\n\r\n"]) as (base, _), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {})
    assert (result.ok, result.status_code) == (False, None)
    assert "malformed status line" in (result.error or "")


async def test_a_connection_the_receiver_closed_while_idle_is_not_reused() -> None:
    async with serve(ok) as (base, receiver), sender() as client:
        first = await client.post(f"{base}/h", b"{}", {})
        receiver.transports[0].close()
        await asyncio.sleep(0.05)  # the FIN reaches the client's reader
        second = await client.post(f"{base}/h", b"{}", {})
    assert (first.ok, second.ok) == (True, True)
    assert receiver.connections == 2


async def test_idle_connections_expire() -> None:
    now = [0.0]
    async with serve(ok) as (base, receiver):
        guard = UrlGuard(ALLOW_LOOPBACK, no_dns)
        pool = Http1Pool(guard, ssl.create_default_context(), keepalive_expiry=5.0,
                         clock=lambda: now[0])  # fmt: skip
        try:
            await pool.post(f"{base}/h", b"{}", {}, 1024)
            now[0] = 4.0
            await pool.post(f"{base}/h", b"{}", {}, 1024)
            now[0] = 9.5
            await pool.post(f"{base}/h", b"{}", {}, 1024)
        finally:
            await pool.aclose()
    assert receiver.connections == 2


async def test_the_ssrf_guard_refuses_at_connect_time() -> None:
    """A name that resolves to loopback is refused when the connection is opened."""

    async def loopback(name: str) -> list[str]:
        return ["127.0.0.1"]

    async with serve(ok) as (base, receiver):
        port = base.rsplit(":", 1)[1]
        guard = UrlGuard(UrlPolicy(allow_private=False, require_https=False), loopback)
        client = WebhookSender(guard, timeout=2.0)
        try:
            result = await client.post(f"http://hooks.example.com:{port}/h", b"{}", {})
        finally:
            await client.aclose()
    assert result.ok is False
    assert (result.error or "").startswith("refused: hooks.example.com resolves to 127.0.0.1")
    assert receiver.connections == 0


async def test_header_injection_is_refused_before_anything_is_sent() -> None:
    async with serve(ok) as (base, receiver), sender() as client:
        result = await client.post(f"{base}/h", b"{}", {"X-A": "1\r\nX-Injected: yes"})
    assert result.ok is False
    assert (result.error or "").startswith("LocalProtocolError: ")
    assert receiver.requests == []


async def test_urls_with_userinfo_go_through_httpx() -> None:
    """httpx turns userinfo into Basic auth; the lean client leaves such URLs to it."""
    async with serve(ok) as (base, receiver), sender() as client:
        result = await client.post(base.replace("http://", "http://u:p@") + "/h", b"{}", {})
        opened = client.http1.connections_opened
    assert result.ok is True
    assert opened == 0
    head = receiver.requests[0][0].lower()
    assert b"authorization: basic dtpw" in head


async def test_https_receivers_speaking_http_1_1_keep_one_verified_connection() -> None:
    from tests.core.test_webhook_sender import Http1, tls_pair
    from tests.core.test_webhook_sender import serve as serve_tls

    server_tls, client_tls = tls_pair("http/1.1")
    seen: list[bytes] = []
    Http1.connections = 0
    async with serve_tls(lambda: Http1(seen), server_tls) as port:
        client = WebhookSender(UrlGuard(ALLOW_LOOPBACK, no_dns), ssl_context=client_tls)
        try:
            results = [
                await client.post(f"https://localhost:{port}/h", b"%d" % n, {}) for n in range(3)
            ]
            opened = client.http1.connections_opened
        finally:
            await client.aclose()
    assert [(r.ok, r.response) for r in results] == [(True, "ok")] * 3
    assert (Http1.connections, opened) == (1, 1)


async def test_an_origin_that_picks_http2_is_probed_once_then_left_to_httpx() -> None:
    from tests.core.test_webhook_sender import Http2, tls_pair
    from tests.core.test_webhook_sender import serve as serve_tls

    server_tls, client_tls = tls_pair("h2")
    seen: list[dict[str, str]] = []
    async with serve_tls(lambda: Http2(seen), server_tls) as port:
        client = WebhookSender(UrlGuard(ALLOW_LOOPBACK, no_dns), ssl_context=client_tls)
        try:
            results = [
                await client.post(f"https://localhost:{port}/h", b"{}", {}) for _ in range(3)
            ]
            opened = client.http1.connections_opened
        finally:
            await client.aclose()
    assert [(r.ok, r.status_code) for r in results] == [(True, 202)] * 3
    assert len(seen) == 3  # every request arrived over HTTP/2
    assert opened == 1  # the ALPN probe, closed before anything was sent
