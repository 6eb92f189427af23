"""The worker's periodic sender-domain re-check: a domain whose records are published becomes
verified without anyone calling /verify, and one whose DMARC record disappears later is
unverified again, with the failing record named."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from scaisend_core.db import SessionFactory
from scaisend_core.domain_verification import DnsPolicy, expected_records
from scaisend_core.models import SenderDomain, Tenant, utcnow
from scaisend_core.repositories import sender_domains as repo
from scaisend_worker.context import WorkerContext
from scaisend_worker.domains import recheck
from tests.fixtures.dns import Zone
from tests.fixtures.messages import worker_config


async def _row(sessions: SessionFactory, tenant: Tenant, domain_id: str) -> SenderDomain:
    async with sessions() as session:
        row = await repo.get_domain(session, tenant.id, domain_id)
        assert row is not None
        return row


async def test_the_cron_verifies_published_records_and_unverifies_a_removed_dmarc(
    worker: WorkerContext,
    sessions: SessionFactory,
    tenant: Tenant,
    dns: Zone,
    dns_nameservers: list[str],
    test_env: dict[str, str],
) -> None:
    app = dataclasses.replace(
        worker, settings=worker_config(test_env, dns_nameservers=dns_nameservers)
    )
    async with sessions() as session:
        made = await repo.create_domain(
            session, app.secrets, tenant_id=tenant.id, domain="recheck.test",
            return_path_host="bounces.recheck.test",
        )  # fmt: skip
        await session.commit()
    for record in expected_records(made, DnsPolicy.from_settings(app.settings)):
        if record.type == "TXT":
            dns.txt(record.host, record.value)

    assert await recheck(app) == 1
    assert (await _row(sessions, tenant, made.id)).verified is True
    assert await recheck(app) == 0  # checked just now: not due again yet

    dns.remove("_dmarc.recheck.test")
    later = utcnow() + timedelta(hours=app.settings.domain_recheck_hours, minutes=1)
    assert await recheck(app, now=later) == 1

    row = await _row(sessions, tenant, made.id)
    assert row.verified is False
    assert row.dns_checks["dmarc"]["valid"] is False
    assert row.dns_checks["dkim"]["valid"] is True
