"""One SMTP transaction against a server that stops answering: each command is timed with the
client's command timeout, and a timeout is a lost connection (421, closed), as aiosmtplib's own
timeout was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from scaisend_smtp.outbound.pool import ConnectOptions, Connector
from scaisend_smtp.outbound.sender import Envelope, Rcpt, Status, transact

MESSAGE = b"From: a@shop.test\r\nTo: b@inbox.test\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture
async def silent_after() -> AsyncIterator[tuple[int, list[str]]]:
    """A server that greets and answers EHLO, then answers the commands listed in `answered`
    (250) and reads the next one without ever replying."""
    answered: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 slow.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper().decode()
            if verb != "EHLO" and verb not in answered:
                await asyncio.sleep(30)  # never answers this one
                return
            writer.write(b"250 slow.test\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, answered
    server.close()


@pytest.mark.parametrize("answered", [[], ["MAIL"], ["MAIL", "RCPT"]])
async def test_a_command_left_unanswered_times_out_as_a_lost_connection(
    silent_after: tuple[int, list[str]], answered: list[str]
) -> None:
    port, script = silent_after
    script += answered
    options = ConnectOptions(ehlo_hostname="mta.test", connect_timeout=5, command_timeout=0.2)
    conn = await Connector(options).open("slow.test", ("127.0.0.1",), port)
    envelope = Envelope("bounces@shop.test", (Rcpt("rcp_1", "b@inbox.test"),))

    results = await asyncio.wait_for(transact(conn, envelope, MESSAGE), timeout=5)

    assert [(r.status, r.code) for r in results] == [(Status.SOFT_FAIL, 421)]
    assert results[0].reply == (
        "4.4.2 Connection with slow.test lost: Timed out waiting for server response"
    )
    assert conn.broken
    assert not conn.client.is_connected
