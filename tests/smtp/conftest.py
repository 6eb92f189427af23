"""SMTP test wiring: settings on the loopback DNS server and MX fleet, an injectable clock, the
Outbound context, and a sender domain with its records published (helpers: support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from scaisend_core import dkim_keys
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.domain_verification import DnsPolicy, expected_records
from scaisend_core.ids import new_id
from scaisend_core.models import SenderDomain, Tenant, utcnow
from scaisend_smtp.outbound.context import Outbound, open_outbound
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.dns import Zone
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.mx import MxFleet
from tests.smtp.support import (
    SENDER_DOMAIN,
    Clock,
    DomainFixture,
    SenderDomainFactory,
    make_settings,
)

POLICY = DnsPolicy(spf_include="bounces.scaisend.test", inbound_host="bounces.scaisend.test")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smtp_overrides() -> dict[str, Any]:
    """Override in a test class or module to change settings for its tests."""
    return {}


@pytest.fixture
def smtp_settings(
    test_env: dict[str, str],
    dns_nameservers: list[str],
    mx: MxFleet,
    tmp_path: Path,
    smtp_overrides: dict[str, Any],
) -> SmtpSettings:
    return make_settings(test_env, dns_nameservers, mx.port, tmp_path / "outbox", **smtp_overrides)


@pytest.fixture
async def outbound(
    smtp_settings: SmtpSettings, clock: Clock, sessions: SessionFactory, redis: ArqRedis
) -> AsyncIterator[Outbound]:
    async with open_outbound(smtp_settings, now=clock) as out:
        yield out


@cache
def _key_pair(algorithm: str) -> dkim_keys.KeyPair:
    """One key per run: generating RSA-2048 per test would dominate the suite's time."""
    return dkim_keys.generate_rsa() if algorithm == "rsa" else dkim_keys.generate_ed25519()


def _domain_row(tenant: Tenant, domain: str, ed25519: bool) -> SenderDomain:
    secrets, domain_id = SecretBox(TEST_SECRET_KEY), new_id("dom")
    rsa = _key_pair("rsa")
    row = SenderDomain(
        id=domain_id, tenant_id=tenant.id, domain=domain, return_path_host=f"bounces.{domain}",
        verified=True, dkim_public_key=rsa.public_b64,
        dkim_private_key=secrets.encrypt(rsa.private_pem, context=domain_id),
    )  # fmt: skip
    if ed25519:
        ed = _key_pair("ed25519")
        row.ed25519_selector = dkim_keys.ED25519_SELECTOR
        row.ed25519_public_key = ed.public_b64
        row.ed25519_private_key = secrets.encrypt(ed.private_pem, context=domain_id)
    return row


@pytest.fixture
def sender_domain_factory(sessions: SessionFactory, dns: Zone) -> SenderDomainFactory:
    """A sender domain with its records published and checked, as a successful /verify
    leaves it (DKIM, the return path and, when made, the Ed25519 record all valid)."""

    async def make(
        tenant: Tenant, domain: str = SENDER_DOMAIN, *, ed25519: bool = False
    ) -> DomainFixture:
        row = _domain_row(tenant, domain, ed25519)
        expected = expected_records(row, POLICY)
        for record in expected:
            if record.type == "TXT":
                dns.txt(record.host, record.value)
        ok = {"valid": True, "reason": None, "checked_at": utcnow().isoformat()}
        row.dns_checks = {record.name: ok for record in expected}
        async with sessions() as session:
            session.add(row)
            await session.commit()
        return DomainFixture(row, {r.name: r.value for r in expected if r.type == "TXT"})

    return make


@pytest.fixture
async def sender_domain(
    sender_domain_factory: SenderDomainFactory, tenant: Tenant
) -> DomainFixture:
    fixture: DomainFixture = await sender_domain_factory(tenant)
    return fixture
