"""A host's pool slot comes back to the pool whatever happens while its connection is given
back: a job cancelled during a worn-out connection's polite QUIT leaves the slot to the next."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from scaisend_smtp.outbound.pool import Connection, ConnectOptions, Connector, PoolLimits, Pools
from scaisend_smtp.outbound.sender import Status, transact
from tests.smtp.outbound.test_pipelining import MESSAGE, Pipelining, envelope


class SlowQuit(Pipelining):
    """A receiver that takes its time to answer QUIT."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(3)
        return "221 Bye"


@pytest.fixture
def slow_quit_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(SlowQuit(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def test_a_job_cancelled_while_its_connection_says_quit_frees_its_slot(
    slow_quit_port: int,
) -> None:
    options = ConnectOptions(ehlo_hostname="mta.test", connect_timeout=5, command_timeout=5)
    pools = Pools(Connector(options), PoolLimits(size=1, idle_timeout=60, max_transactions=1,
                                                 probe_after=30))  # fmt: skip
    used: list[Connection] = []

    async def deliver() -> None:
        async with pools.slot("127.0.0.1", slow_quit_port, "inbox.test") as slot:
            conn = await slot.connection(("127.0.0.1",))
            used.append(conn)
            results = await transact(conn, envelope("a@inbox.test"), MESSAGE)
            assert [r.status for r in results] == [Status.SENT]
        # worn out after one transaction: given back with a polite QUIT

    job = asyncio.create_task(deliver())
    await asyncio.sleep(0.3)  # the transaction is done, the QUIT unanswered
    job.cancel()  # the job's timeout, a shutdown
    await asyncio.gather(job, return_exceptions=True)

    async with asyncio.timeout(1):
        async with pools.slot("127.0.0.1", slow_quit_port, "inbox.test") as slot:
            assert slot.baton is None
    assert not used[0].client.is_connected  # closed, not left open
    assert pools.open_connections("127.0.0.1", slow_quit_port) == 0
