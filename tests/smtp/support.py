"""Helpers for SMTP tests: an injectable clock, settings pointed at the loopback DNS server and
MX fleet, MX records, one delivery attempt, and reading back what it recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import EmailMessage, MessageEvent, MessageRecipient, SenderDomain, utcnow
from scaisend_core.queue import DeliverMessage
from scaisend_smtp.outbound.context import Outbound
from scaisend_smtp.outbound.pipeline import deliver
from scaisend_smtp.settings import SmtpSettings
from tests.fixtures.dns import Zone
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


async def run(out: Outbound, message: Rendered | str, attempt: int = 0) -> str:
    message_id = message if isinstance(message, str) else message.id
    return await deliver(out, DeliverMessage(message_id=message_id, attempt=attempt))


async def load(
    sessions: SessionFactory, message_id: str
) -> tuple[EmailMessage, list[MessageRecipient]]:
    async with sessions() as session:
        message = (
            await session.exec(select(EmailMessage).where(EmailMessage.id == message_id))
        ).one()
        rows = await session.exec(
            select(MessageRecipient).where(MessageRecipient.message_id == message_id)
        )
        return message, list(rows.all())


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
