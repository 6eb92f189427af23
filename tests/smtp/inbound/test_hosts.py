"""The return-path host cache RCPT decides with, and how it behaves without a database."""

from __future__ import annotations

import asyncio

from scaisend_core.db import SessionFactory, create_engine_for_url, create_session_factory
from scaisend_core.models import Tenant
from scaisend_smtp.inbound.hosts import HostVerdict, ReturnPathHosts
from tests.fixtures.storage import free_port
from tests.smtp.inbound import rows


async def test_sender_domain_return_path_hosts_are_ours_after_a_refresh(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    await rows.sender_domain(sessions, tenant, "acme.example", "Bounces.Acme.Example")
    hosts = ReturnPathHosts(sessions, "bounces.scaisend.test")
    assert hosts.verdict("bounces.acme.example") is HostVerdict.UNKNOWN
    await hosts.refresh()
    assert hosts.verdict("bounces.acme.example.") is HostVerdict.OURS
    assert hosts.verdict("gmail.com") is HostVerdict.FOREIGN
    assert hosts.verdict("BOUNCES.scaisend.test") is HostVerdict.OURS


async def test_unreachable_database_leaves_only_the_inbound_domain_known() -> None:
    engine = create_engine_for_url(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/none")
    hosts = ReturnPathHosts(create_session_factory(engine), "bounces.scaisend.test")
    stop = asyncio.Event()
    task = asyncio.create_task(hosts.keep_fresh(stop, every=0.01))
    await asyncio.sleep(0.2)  # several failed reloads; the task must survive them
    stop.set()
    await asyncio.wait_for(task, 5)
    await engine.dispose()
    assert hosts.verdict("bounces.acme.example") is HostVerdict.UNKNOWN
    assert hosts.verdict("bounces.scaisend.test") is HostVerdict.OURS
