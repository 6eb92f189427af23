"""A transaction with a server that advertises PIPELINING (RFC 2920): MAIL, the RCPTs and DATA
go in one write (100 commands at most), the content in a second, and the replies still land on
the right recipients; a 421 anywhere closes the connection."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from scaisend_smtp.outbound.pool import Connection, ConnectOptions, Connector
from scaisend_smtp.outbound.sender import Envelope, Rcpt, SendResult, Status, _content, transact

MESSAGE = (b"From: a@shop.test\r\nTo: b@inbox.test\r\nSubject: hi\r\n\r\nhello\r\n"
           b".a line that starts with a dot\r\n.\r\nbye\r\n")  # fmt: skip


@dataclass
class Pipelining:
    """aiosmtpd handler: PIPELINING in EHLO, scripted refusals, what arrived."""

    refuse_sender: str = "refused@shop.test"
    refuse_prefix: str = "gone"
    closing_sender: str = "busy@shop.test"
    closing_prefix: str = "closing"
    rcpt_reply: str = "250 2.1.5 OK"
    pipelining: bool = True  # False: a server without it, for the one-command-at-a-time path
    rcpts: int = 0  # RCPTs answered
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == self.refuse_sender:
            return "553 5.7.1 Sender refused"
        if address == self.closing_sender:
            return "421 4.7.0 Try again later, closing connection"
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith(self.refuse_prefix):
            return "550 5.1.1 User unknown"
        if address.startswith(self.closing_prefix):
            return "421 4.7.0 Too many recipients this hour, closing connection"
        envelope.rcpt_tos.append(address)
        self.rcpts += 1
        return self.rcpt_reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK queued"


@pytest.fixture
def server() -> Iterator[tuple[Pipelining, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    handler = Pipelining()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def connect(port: int, pipelining: bool = True) -> tuple[Connection, list[bytes]]:
    """A connection whose writes are recorded."""
    options = ConnectOptions(ehlo_hostname="mta.test", connect_timeout=5, command_timeout=5)
    conn = await Connector(options).open("pipe.test", ("127.0.0.1",), port)
    assert conn.supports("pipelining") is pipelining
    protocol = conn.client.protocol
    assert protocol is not None
    writes: list[bytes] = []
    write = protocol.write

    def recorded(data: bytes) -> None:
        writes.append(data)
        write(data)

    protocol.write = recorded  # type: ignore[method-assign]
    return conn, writes


def replies_arrive_together(conn: Connection, handler: Pipelining) -> None:
    """After each write the client's loop waits (blocked) until the server has answered its
    RCPTs, so their replies arrive in one read, as from a remote MX a round trip away."""
    protocol = conn.client.protocol
    assert protocol is not None
    write = protocol.write

    def write_then_wait(data: bytes) -> None:
        expected = handler.rcpts + data.count(b"RCPT TO:")
        write(data)
        deadline = time.monotonic() + 5
        while handler.rcpts < expected and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.02)  # the last replies flushed

    protocol.write = write_then_wait  # type: ignore[method-assign]


def outcome(results: list[SendResult]) -> list[tuple[str, Status, int]]:
    return [(r.recipient.email, r.status, r.code) for r in results]


def envelope(*addresses: str, sender: str = "bounces@shop.test") -> Envelope:
    return Envelope(sender, tuple(Rcpt(f"rcp_{n}", a) for n, a in enumerate(addresses)))


async def test_commands_and_content_go_in_two_writes(server: tuple[Pipelining, int]) -> None:
    handler, port = server
    conn, writes = await connect(port)

    results = await transact(conn, envelope("a@inbox.test", "gone@inbox.test", "c@inbox.test"),
                             MESSAGE)  # fmt: skip

    assert outcome(results) == [
        ("gone@inbox.test", Status.HARD_FAIL, 550),
        ("a@inbox.test", Status.SENT, 250),
        ("c@inbox.test", Status.SENT, 250),
    ]
    assert results[0].reply == "5.1.1 User unknown"
    assert len(writes) == 2
    assert writes[0].count(b"\r\n") == 5  # MAIL, three RCPTs, DATA
    assert handler.received == [(["a@inbox.test", "c@inbox.test"], MESSAGE)]
    assert not conn.dirty


async def test_no_recipient_accepted_sends_no_content_and_the_connection_stays_usable(
    server: tuple[Pipelining, int],
) -> None:
    handler, port = server
    conn, _ = await connect(port)

    refused = await transact(conn, envelope("gone1@inbox.test", "gone2@inbox.test"), MESSAGE)
    assert conn.dirty
    await conn.client.rset()
    accepted = await transact(conn, envelope("a@inbox.test"), MESSAGE)

    assert outcome(refused) == [
        ("gone1@inbox.test", Status.HARD_FAIL, 550),
        ("gone2@inbox.test", Status.HARD_FAIL, 550),
    ]
    assert outcome(accepted) == [("a@inbox.test", Status.SENT, 250)]
    assert handler.received == [(["a@inbox.test"], MESSAGE)]


async def test_a_refused_sender_is_every_recipients_reply(server: tuple[Pipelining, int]) -> None:
    handler, port = server
    conn, _ = await connect(port)

    results = await transact(
        conn, envelope("a@inbox.test", "b@inbox.test", sender="refused@shop.test"), MESSAGE
    )
    after = await transact(conn, envelope("a@inbox.test"), MESSAGE)

    assert outcome(results) == [
        ("a@inbox.test", Status.HARD_FAIL, 553),
        ("b@inbox.test", Status.HARD_FAIL, 553),
    ]
    assert results[0].reply == "5.7.1 Sender refused"
    assert outcome(after) == [("a@inbox.test", Status.SENT, 250)]  # replies still in step
    assert handler.received == [(["a@inbox.test"], MESSAGE)]


async def test_six_hundred_recipients_with_long_replies_are_all_accepted(
    server: tuple[Pipelining, int],
) -> None:
    handler, port = server
    handler.rcpt_reply = "250 2.1.5 OK a640c23a62f3a-a4c8a2b4e5fsi1234567qx.42 - gsmtp"  # Gmail's
    conn, writes = await connect(port)
    replies_arrive_together(conn, handler)
    addresses = [f"r{n}@inbox.test" for n in range(600)]  # ~43 KB of RCPT replies

    results = await transact(conn, envelope(*addresses), MESSAGE)

    assert outcome(results) == [(a, Status.SENT, 250) for a in addresses]
    assert handler.received == [(addresses, MESSAGE)]
    assert max(write.count(b"\r\n") for write in writes[:-1]) <= 100  # replies read in between
    assert not conn.dirty
    assert not conn.broken


async def test_a_421_to_mail_closes_the_connection(server: tuple[Pipelining, int]) -> None:
    handler, port = server
    conn, _ = await connect(port)

    results = await transact(conn, envelope("a@inbox.test", sender="busy@shop.test"), MESSAGE)

    assert outcome(results) == [("a@inbox.test", Status.SOFT_FAIL, 421)]
    assert results[0].reply == "4.7.0 Try again later, closing connection"
    assert conn.broken
    assert not conn.client.is_connected  # not given back to the pool
    assert handler.received == []


async def test_a_421_to_a_recipient_defers_all_and_closes_the_connection(
    server: tuple[Pipelining, int],
) -> None:
    handler, port = server
    conn, _ = await connect(port)

    results = await transact(conn, envelope("a@inbox.test", "closing@inbox.test"), MESSAGE)

    assert outcome(results) == [
        ("a@inbox.test", Status.SOFT_FAIL, 421),
        ("closing@inbox.test", Status.SOFT_FAIL, 421),
    ]
    assert conn.broken
    assert not conn.client.is_connected
    assert handler.received == []  # no content sent on a closing channel


async def test_a_421_keeps_the_5xx_refusals_answered_before_it(
    server: tuple[Pipelining, int],
) -> None:
    handler, port = server
    conn, _ = await connect(port)

    results = await transact(conn, envelope("gone@inbox.test", "closing@inbox.test"), MESSAGE)

    assert outcome(results) == [
        ("gone@inbox.test", Status.HARD_FAIL, 550),  # bounced, not retried
        ("closing@inbox.test", Status.SOFT_FAIL, 421),
    ]
    assert results[0].reply == "5.1.1 User unknown"
    assert conn.broken
    assert not conn.client.is_connected
    assert handler.received == []


async def test_without_pipelining_a_421_also_keeps_the_5xx_refusals_answered_before_it(
    server: tuple[Pipelining, int],
) -> None:
    """One command at a time: the recipient after the 421 is never asked, and deferred."""
    handler, port = server
    handler.pipelining = False
    conn, _ = await connect(port, pipelining=False)

    rcpts = envelope("gone@inbox.test", "closing@inbox.test", "later@inbox.test")
    results = await transact(conn, rcpts, MESSAGE)

    assert sorted(outcome(results)) == [
        ("closing@inbox.test", Status.SOFT_FAIL, 421),
        ("gone@inbox.test", Status.HARD_FAIL, 550),  # bounced, not retried
        ("later@inbox.test", Status.SOFT_FAIL, 421),
    ]
    assert conn.broken
    assert handler.rcpts == 0
    assert handler.received == []


def test_content_is_encoded_as_aiosmtplib_encodes_it() -> None:
    """The shortcuts (skip a pass that would change nothing) give aiosmtplib's bytes."""
    pieces = [b"a", b".", b"\r", b"\n", b"\r\n", b" ", b".."]
    rng = random.Random(6)
    for _ in range(20_000):
        message = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
        assert _content(message) == expected, message
