"""`scaisend smtp` as an operator runs it: a real process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer
from arq.connections import ArqRedis
from typer.testing import CliRunner

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.queue import DeliverMessage, enqueue
from scaisend_smtp.cli import register
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, load, route

SCAISEND = str(Path(sys.executable).with_name("scaisend"))


async def scaisend(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        SCAISEND, *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


async def test_smtp_outbound_only_burst_delivers_the_queue_and_exits(
    test_env: dict[str, str], dns_nameservers: list[str], mx: MxFleet, dns: Zone,
    tenant: Tenant, sender_domain: DomainFixture, rendered_factory: RenderedFactory,
    sessions: SessionFactory, redis: ArqRedis, tmp_path: Path,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    message = await rendered_factory(tenant, ["ada@inbox.test"])
    await enqueue(redis, DeliverMessage(message_id=message.id))
    env = {**test_env, "DNS_NAMESERVERS": ",".join(dns_nameservers),
           "SMTP_MX_PORT": str(mx.port), "METRICS_PORT": "0"}  # fmt: skip

    code, output = await scaisend(env, "smtp", "--outbound-only", "--burst")

    assert code == 0, output
    assert len(mx[0].received) == 1
    stored, _ = await load(sessions, message.id)
    assert stored.status == "delivered"


def test_outbound_only_and_inbound_only_together_are_refused() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `smtp` is a subcommand as under `scaisend`
    register(app)
    result = CliRunner().invoke(app, ["smtp", "--outbound-only", "--inbound-only"])
    assert result.exit_code == 2
    assert "choose at most one" in result.output
