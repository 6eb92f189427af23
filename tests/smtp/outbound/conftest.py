"""Outbound test wiring: SMTP settings pointed at the loopback DNS server and MX fleet, an
injectable clock, the Outbound context, a verified sender domain with its DNS records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlmodel import select

from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.domain_verification import DnsPolicy, expected_records
from scaisend_core.events import EventType
from scaisend_core.models import MessageEvent, SenderDomain, Tenant, utcnow
from scaisend_core.queue import DeliverMessage
from scaisend_core.repositories import sender_domains
from scaisend_smtp.outbound.context import Outbound, open_outbound
from scaisend_smtp.outbound.pipeline import deliver
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.dns import Zone
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import Rendered

SENDER_DOMAIN = "mail.example.test"


class Clock:
    """`now` for the code under test; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.value = utcnow()

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> None:
        self.value += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(
    test_env: dict[str, str], nameservers: list[str], port: int, outbox: Path, **extra: Any
) -> SmtpSettings:
    env: dict[str, Any] = {k.lower(): v for k, v in test_env.items()}
    env.update(
        dns_nameservers=nameservers,
        smtp_mx_port=port,
        smtp_connect_timeout=2.0,
        smtp_command_timeout=5.0,
        smtp_retry_schedule=[60, 300, 900],
        smtp_capture_dir=str(outbox),
        metrics_port=0,
        mx_cache_ttl=0,
    )
    env.update(extra)
    return SmtpSettings(**env)


@pytest.fixture
def smtp_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change settings for its tests."""
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


def route(zone: Zone, domain: str, *hosts: tuple[int, str]) -> None:
    """MX records for `domain`: (preference, address) -> mx<n>.<domain> with that A record."""
    records = []
    for n, (preference, address) in enumerate(hosts, start=1):
        name = f"mx{n}.{domain}"
        zone.a(name, address)
        records.append((preference, name))
    zone.mx(domain, *records)


@dataclass(frozen=True, slots=True)
class DomainFixture:
    row: SenderDomain
    records: dict[str, str]  # record name -> TXT value as published


SenderDomainFactory = Callable[..., Any]


@pytest.fixture
def sender_domain_factory(sessions: SessionFactory, dns: Zone) -> SenderDomainFactory:
    """A sender domain with its records published; `verified` marks DKIM (and the return
    path, Ed25519) as checked, as a successful /verify would."""

    async def make(
        tenant: Tenant, domain: str = SENDER_DOMAIN, *, ed25519: bool = False, publish: bool = True
    ) -> DomainFixture:
        async with sessions() as session:
            row = await sender_domains.create_domain(
                session, SecretBox(TEST_SECRET_KEY), tenant_id=tenant.id, domain=domain,
                return_path_host=f"bounces.{domain}", ed25519=ed25519,
            )  # fmt: skip
            policy = DnsPolicy(
                spf_include="bounces.scaisend.test", inbound_host="bounces.scaisend.test"
            )
            records = {r.name: r.value for r in expected_records(row, policy) if r.type == "TXT"}
            hosts = {r.name: r.host for r in expected_records(row, policy)}
            if publish:
                for name, value in records.items():
                    dns.txt(hosts[name], value)
            ok = {"valid": True, "reason": None, "checked_at": utcnow().isoformat()}
            row.dns_checks = {name: ok for name in hosts}
            row.verified = True
            session.add(row)
            await session.commit()
            return DomainFixture(row, records)

    return make


@pytest.fixture
async def sender_domain(
    sender_domain_factory: SenderDomainFactory, tenant: Tenant
) -> DomainFixture:
    fixture: DomainFixture = await sender_domain_factory(tenant)
    return fixture


async def run(out: Outbound, message: Rendered | str, attempt: int = 0) -> str:
    message_id = message if isinstance(message, str) else message.id
    return await deliver(out, DeliverMessage(message_id=message_id, attempt=attempt))


async def events_of(sessions: SessionFactory, message_id: str) -> list[MessageEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(MessageEvent)
            .where(MessageEvent.message_id == message_id)
            .order_by(MessageEvent.occurred_at, MessageEvent.id)  # type: ignore[arg-type]
        )
        return list(rows.all())


def kinds(events: list[MessageEvent]) -> list[str]:
    return [e.event_type for e in events]


def only(events: list[MessageEvent], kind: EventType) -> MessageEvent:
    matching = [e for e in events if e.event_type == kind.value]
    assert len(matching) == 1, [e.event_type for e in events]
    return matching[0]
