"""The periodic re-check core offers the worker: domains not checked lately are verified again."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.dns import Resolver
from scaisend_core.domain_verification import DnsPolicy, expected_records, recheck_domains
from scaisend_core.models import SenderDomain, Tenant, utcnow
from scaisend_core.repositories import sender_domains as repo
from tests.fixtures.dns import Zone
from tests.fixtures.environment import TEST_SECRET_KEY

POLICY = DnsPolicy(spf_include="spf.scaisend.test", inbound_host="bounces.scaisend.test")


async def add(sessions: SessionFactory, tenant: Tenant, domain: str) -> SenderDomain:
    async with sessions() as session:
        row = await repo.create_domain(
            session, SecretBox(TEST_SECRET_KEY), tenant_id=tenant.id, domain=domain,
            return_path_host=f"bounces.{domain}",
        )  # fmt: skip
        await session.commit()
        return row


def publish(zone: Zone, row: SenderDomain) -> None:
    for record in expected_records(row, POLICY):
        if record.type == "TXT":
            zone.txt(record.host, record.value)


async def test_recheck_verifies_domains_never_checked_and_skips_fresh_ones(
    sessions: SessionFactory, tenant: Tenant, dns: Zone, dns_nameservers: list[str]
) -> None:
    stale = await add(sessions, tenant, "stale.test")
    fresh = await add(sessions, tenant, "fresh.test")
    publish(dns, stale)
    publish(dns, fresh)
    async with sessions() as session:
        row = await repo.get_domain(session, tenant.id, fresh.id)
        assert row is not None
        row.last_checked_at = utcnow()
        await session.commit()

    resolver = Resolver(dns_nameservers, timeout=1, tries=1)
    try:
        checked = await recheck_domains(sessions, resolver, POLICY, older_than=timedelta(hours=6))
    finally:
        await resolver.close()

    assert checked == 1
    async with sessions() as session:
        rows = {r.domain: r for r in (await session.exec(select(SenderDomain))).all()}
    assert rows["stale.test"].verified is True
    assert rows["stale.test"].dns_checks["spf"]["valid"] is True
    assert rows["fresh.test"].verified is False
    assert rows["fresh.test"].dns_checks == {}
