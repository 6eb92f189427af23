"""In capture mode (`scaisend up`) the periodic sender-domain re-check sends no DNS query: the
domain made on first use stays unchecked until SMTP_DELIVERY is mx."""

from __future__ import annotations

import dataclasses

from scaisend_core.db import SessionFactory
from scaisend_core.domain_verification import DnsPolicy, expected_records
from scaisend_core.models import Tenant
from scaisend_core.repositories import sender_domains as repo
from scaisend_worker.context import WorkerContext
from scaisend_worker.domains import recheck
from tests.fixtures.dns import Zone
from tests.fixtures.messages import worker_config


async def test_capture_mode_leaves_dns_alone_until_mx(
    worker: WorkerContext,
    sessions: SessionFactory,
    tenant: Tenant,
    dns: Zone,
    dns_nameservers: list[str],
    test_env: dict[str, str],
) -> None:
    capture = dataclasses.replace(
        worker,
        settings=worker_config(test_env, dns_nameservers=dns_nameservers, smtp_delivery="capture"),
    )
    async with sessions() as session:
        made = await repo.create_domain(
            session, capture.secrets, tenant_id=tenant.id, domain="local.test",
            return_path_host="bounces.local.test",
        )  # fmt: skip
        await session.commit()
    for record in expected_records(made, DnsPolicy.from_settings(capture.settings)):
        if record.type == "TXT":
            dns.txt(record.host, record.value)

    assert await recheck(capture) == 0
    async with sessions() as session:
        row = await repo.get_domain(session, tenant.id, made.id)
        assert row is not None
        assert (row.last_checked_at, row.verified) == (None, False)

    mx = dataclasses.replace(
        worker, settings=worker_config(test_env, dns_nameservers=dns_nameservers)
    )
    assert await recheck(mx) == 1
    async with sessions() as session:
        row = await repo.get_domain(session, tenant.id, made.id)
        assert row is not None
        assert row.verified is True
