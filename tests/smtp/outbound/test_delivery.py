"""deliver(): a rendered message reaches the recipient's MX, signed, over STARTTLS, and the
timeline, recipient rows and message state say so."""

from __future__ import annotations

import dkim

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import Tenant
from scaisend_core.verp import Verp
from scaisend_smtp.outbound.context import Outbound
from tests.fixtures.dns import DnsServerHandle, Zone
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import (
    DomainFixture,
    SenderDomainFactory,
    events_of,
    kinds,
    load,
    only,
    route,
    run,
)

RCPT = "ada@inbox.test"


async def test_a_message_is_delivered_over_starttls_and_recorded(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    message = await rendered_factory(tenant, [RCPT])

    summary = await run(outbound, message)

    assert summary == "attempt 1: 1 sent; 0 held"
    [received] = mx[0].received
    assert received.rcpt_tos == [RCPT]
    assert received.tls is True
    assert received.ehlo == "mta.scaisend.test"
    assert received.data.endswith(message.mime.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
    stored, [recipient] = await load(sessions, message.id)
    assert stored.status == "delivered"
    assert stored.attempts == 1
    assert (recipient.status, recipient.attempts) == ("delivered", 1)
    assert recipient.smtp_response == "250 2.0.0 OK queued"
    delivered = only(await events_of(sessions, message.id), EventType.DELIVERED)
    assert delivered.recipient_email == RCPT
    assert delivered.details == {
        "smtp_response": "250 2.0.0 OK queued", "attempt": 1, "mx": "mx1.inbox.test", "tls": True,
    }  # fmt: skip


async def test_the_signature_verifies_with_dkimpy_against_the_published_record(
    outbound: Outbound, mx: MxFleet, dns: Zone, dns_server: DnsServerHandle, tenant: Tenant,
    sender_domain: DomainFixture, rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    await run(outbound, await rendered_factory(tenant, [RCPT]))

    data = mx[0].received[0].data
    signature = dkim.DKIM(data)
    assert signature.verify(dnsfunc=dns_server.dkim_dnsfunc()) is True
    assert signature.signature_fields[b"d"] == b"mail.example.test"
    assert signature.signature_fields[b"s"] == b"scaisend"
    assert signature.signature_fields[b"c"] == b"relaxed/relaxed"
    signed = {h.strip() for h in signature.signature_fields[b"h"].split(b":")}
    assert {b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
            b"content-type"} <= signed  # fmt: skip


async def test_a_tampered_body_no_longer_verifies(
    outbound: Outbound, mx: MxFleet, dns: Zone, dns_server: DnsServerHandle, tenant: Tenant,
    sender_domain: DomainFixture, rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    await run(outbound, await rendered_factory(tenant, [RCPT]))
    data = mx[0].received[0].data.replace(b"shipped", b"shopped", 1)
    assert dkim.verify(data, dnsfunc=dns_server.dkim_dnsfunc()) is False


async def test_an_ed25519_key_adds_a_second_signature_that_verifies(
    outbound: Outbound, mx: MxFleet, dns: Zone, dns_server: DnsServerHandle, tenant: Tenant,
    sender_domain_factory: SenderDomainFactory, rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    await sender_domain_factory(tenant, ed25519=True)
    route(dns, "inbox.test", (10, mx[0].address))
    await run(outbound, await rendered_factory(tenant, [RCPT]))

    signatures = dkim.DKIM(mx[0].received[0].data)
    lookup = dns_server.dkim_dnsfunc()
    assert signatures.verify(idx=0, dnsfunc=lookup) is True
    assert signatures.verify(idx=1, dnsfunc=lookup) is True
    algorithms = {signatures.signature_fields[b"a"]}
    signatures.verify(idx=0, dnsfunc=lookup)
    algorithms.add(signatures.signature_fields[b"a"])
    assert algorithms == {b"rsa-sha256", b"ed25519-sha256"}


async def test_mail_from_is_a_verp_address_naming_the_recipient(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    parsed = Verp(TEST_SECRET_KEY).parse(mx[0].received[0].mail_from)
    assert parsed is not None
    assert (parsed.kind, parsed.id) == ("recipient", message.recipients[0].id)
    assert parsed.host == "bounces.mail.example.test"  # its return-path record checked out


async def test_a_transaction_with_several_recipients_carries_the_message_in_verp(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    message = await rendered_factory(tenant, [RCPT], cc=["bob@inbox.test"], bcc=["eve@inbox.test"])

    await run(outbound, message)

    [received] = mx[0].received  # one transaction for the domain
    assert sorted(received.rcpt_tos) == ["ada@inbox.test", "bob@inbox.test", "eve@inbox.test"]
    parsed = Verp(TEST_SECRET_KEY).parse(received.mail_from)
    assert parsed is not None
    assert (parsed.kind, parsed.id) == ("message", message.id)
    assert b"eve@inbox.test" not in received.data  # Bcc stays out of the headers


async def test_without_a_checked_return_path_bounces_go_to_the_inbound_host(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    async with sessions() as session:
        row = await session.get(type(sender_domain.row), sender_domain.row.id)
        assert row is not None
        row.dns_checks = {**row.dns_checks, "return_path": {"valid": False}}
        await session.commit()
    route(dns, "inbox.test", (10, mx[0].address))

    await run(outbound, await rendered_factory(tenant, [RCPT]))

    assert mx[0].received[0].mail_from.endswith("@bounces.scaisend.test")


async def test_recipients_on_two_domains_get_one_transaction_each(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    route(dns, "other.test", (10, mx[1].address))
    message = await rendered_factory(tenant, [RCPT, "bob@other.test"])

    await run(outbound, message)

    assert [r.rcpt_tos for r in mx[0].received] == [[RCPT]]
    assert [r.rcpt_tos for r in mx[1].received] == [["bob@other.test"]]
    assert kinds(await events_of(sessions, message.id)) == ["delivered", "delivered"]


async def test_a_stale_job_sends_nothing(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    message = await rendered_factory(tenant, [RCPT])
    await run(outbound, message)

    again = await run(outbound, message)  # a duplicate of attempt 0

    assert again == "skipped: message is delivered at attempt 1"
    assert len(mx[0].received) == 1
