"""Delivery modes and connection policy: SMTP_DELIVERY=capture and =smarthost,
SMTP_REQUIRE_TLS, and the MX's advertised SIZE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.domain_verification import DnsPolicy, expected_records
from scaisend_core.events import EventType
from scaisend_core.models import SenderDomain, Tenant
from scaisend_smtp.outbound.context import Outbound
from tests.fixtures.dns import DnsServerHandle, Zone
from tests.fixtures.mx import SMARTHOST_ADDRESS, SMARTHOST_LOGIN, MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, events_of, load, only, route, run

RCPT = "ada@inbox.test"


class TestCapture:
    @pytest.fixture
    def smtp_overrides(self) -> dict[str, Any]:
        return {"smtp_delivery": "capture"}

    async def test_the_signed_message_is_written_to_the_outbox_and_recorded_delivered(
        self, outbound: Outbound, mx: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
        rendered_factory: RenderedFactory, sessions: SessionFactory, dns_server: DnsServerHandle,
    ) -> None:  # fmt: skip
        message = await rendered_factory(tenant, [RCPT, "bob@other.test"])

        await run(outbound, message)

        path = Path(outbound.settings.smtp_capture_dir) / f"{message.id}.eml"
        data = path.read_bytes()
        assert data.startswith(b"Return-Path: <bounces+m")
        envelope_to = data.split(b"X-ScaiSend-Envelope-To: ", 1)[1].split(b"\r\n", 1)[0]
        assert sorted(envelope_to.split(b", ")) == [b"ada@inbox.test", b"bob@other.test"]
        assert dkim.verify(data, dnsfunc=dns_server.dkim_dnsfunc()) is True
        assert mx[0].connections == 0
        stored, recipients = await load(sessions, message.id)
        assert stored.status == "delivered"
        assert {r.status for r in recipients} == {"delivered"}
        events = await events_of(sessions, message.id)
        assert [e.event_type for e in events] == ["delivered", "delivered"]
        assert events[0].details["mx"] == "capture"

    async def test_an_unknown_from_domain_gets_a_key_on_first_use(
        self, outbound: Outbound, tenant: Tenant, rendered_factory: RenderedFactory,
        sessions: SessionFactory, dns: Zone, dns_server: DnsServerHandle,
    ) -> None:  # fmt: skip
        message = await rendered_factory(tenant, [RCPT], from_email="hello@new.example.test")

        await run(outbound, message)

        async with sessions() as session:
            row = (await session.exec(select(SenderDomain))).one()
        assert (row.domain, row.verified) == ("new.example.test", False)
        policy = DnsPolicy(spf_include="x", inbound_host="x")
        dkim_record = next(r for r in expected_records(row, policy) if r.name == "dkim")
        dns.txt(dkim_record.host, dkim_record.value)
        data = (Path(outbound.settings.smtp_capture_dir) / f"{message.id}.eml").read_bytes()
        assert dkim.verify(data, dnsfunc=dns_server.dkim_dnsfunc()) is True


class TestSmarthost:
    @pytest.fixture
    def smtp_overrides(self, mx_fleet: MxFleet) -> dict[str, Any]:
        user, password = SMARTHOST_LOGIN
        return {
            "smtp_delivery": "smarthost",
            "smtp_smarthost": f"{SMARTHOST_ADDRESS}:{mx_fleet.port}",
            "smtp_smarthost_username": user,
            "smtp_smarthost_password": password,
            "smtp_smarthost_tls": "starttls",
        }

    async def test_everything_is_relayed_with_starttls_and_auth(
        self, outbound: Outbound, mx: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
        rendered_factory: RenderedFactory, sessions: SessionFactory,
    ) -> None:  # fmt: skip
        message = await rendered_factory(tenant, [RCPT, "bob@other.test"])

        await run(outbound, message)

        [relayed] = mx.smarthost.received
        assert sorted(relayed.rcpt_tos) == ["ada@inbox.test", "bob@other.test"]
        assert relayed.tls is True
        assert relayed.data.startswith(b"DKIM-Signature:")
        stored, _ = await load(sessions, message.id)
        assert stored.status == "sent"  # the relay took it; the final MX's verdict is not ours
        assert {e.event_type for e in await events_of(sessions, message.id)} == {"delivered"}

    async def test_a_wrong_password_defers(
        self, outbound: Outbound, mx: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
        rendered_factory: RenderedFactory, sessions: SessionFactory,
    ) -> None:  # fmt: skip
        mx.smarthost.auth = ("relay-user", "another-secret")
        try:
            message = await rendered_factory(tenant, [RCPT])
            await run(outbound, message)
        finally:
            mx.smarthost.auth = SMARTHOST_LOGIN
        deferred = only(await events_of(sessions, message.id), EventType.DEFERRED)
        assert deferred.details["smtp_response"].startswith("451 4.4.0 Smarthost 127.0.0.20")
        assert " 535 " in deferred.details["smtp_response"]


class TestRequireTls:
    @pytest.fixture
    def smtp_overrides(self) -> dict[str, Any]:
        return {"smtp_require_tls": True}

    async def test_an_mx_without_starttls_is_not_used(
        self, outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant,
        sender_domain: DomainFixture, rendered_factory: RenderedFactory, sessions: SessionFactory,
    ) -> None:  # fmt: skip
        route(dns, "inbox.test", (10, mx[0].address))
        mx[0].script.offer_tls = False
        message = await rendered_factory(tenant, [RCPT])

        await run(outbound, message)

        assert mx[0].received == []
        deferred = only(await events_of(sessions, message.id), EventType.DEFERRED)
        assert deferred.details["smtp_response"].startswith("451 4.7.10 TLS is required")


async def test_without_starttls_on_offer_mail_goes_in_clear_text(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    mx[0].script.offer_tls = False
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    assert mx[0].received[0].tls is False
    assert only(await events_of(sessions, message.id), EventType.DELIVERED).details["tls"] is False


async def test_a_message_over_the_mx_size_limit_bounces_without_being_sent(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    mx[0].script.size_limit = 1000
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    assert mx[0].received == []
    bounce = only(await events_of(sessions, message.id), EventType.BOUNCE)
    assert bounce.details["status"] == "5.3.4"
    assert bounce.details["bounce_type"] == "soft"


async def test_mail_from_announces_the_size(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    await run(outbound, await rendered_factory(tenant, [RCPT]))
    received = mx[0].received[0]
    assert f"SIZE={len(received.data)}" in received.mail_options
