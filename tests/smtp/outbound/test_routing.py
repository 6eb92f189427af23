"""Where deliver() connects: MX preference, failover to the next host, the A/AAAA fallback,
null MX and non-existent domains, and host back-off after a 421 or a dead host."""

from __future__ import annotations

from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import Tenant
from scaisend_smtp.outbound.context import Outbound
from scaisend_smtp.outbound.limits import BACKOFF_PREFIX
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, events_of, load, only, route, run

RCPT = "ada@inbox.test"
DEAD = "127.0.0.99"  # nothing listens there: connection refused


async def test_the_lowest_preference_mx_gets_the_mail(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (20, mx[1].address), (10, mx[0].address))
    await run(outbound, await rendered_factory(tenant, [RCPT]))
    assert (len(mx[0].received), len(mx[1].received)) == (1, 0)


async def test_an_unreachable_mx_fails_over_to_the_next_and_is_backed_off(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, redis: ArqRedis,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, DEAD), (20, mx[1].address))
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    assert len(mx[1].received) == 1
    delivered = only(await events_of(sessions, message.id), EventType.DELIVERED)
    assert delivered.details["mx"] == "mx2.inbox.test"
    assert await redis.exists(BACKOFF_PREFIX + "mx1.inbox.test")


async def test_without_mx_records_the_domains_a_record_is_used(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    dns.a("inbox.test", mx[2].address)
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    assert mx[2].received[0].rcpt_tos == [RCPT]
    assert (
        only(await events_of(sessions, message.id), EventType.DELIVERED).details["mx"]
        == "inbox.test"
    )


async def test_a_null_mx_is_a_hard_bounce_without_connecting(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    dns.mx("inbox.test", (0, "."))
    dns.a("inbox.test", mx[0].address)  # must not be used: a null MX means "no mail"
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    assert mx[0].connections == 0
    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status, recipient.bounce_type) == (
        "bounced",
        "bounced",
        "hard",
    )
    bounce = only(await events_of(sessions, message.id), EventType.BOUNCE)
    assert bounce.details["bounce_type"] == "hard"
    assert bounce.details["status"] == "5.1.10"
    assert "null MX" in bounce.details["reason"]


async def test_a_domain_that_does_not_exist_is_a_hard_bounce(
    outbound: Outbound, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    message = await rendered_factory(tenant, ["ada@nowhere.test"])
    await run(outbound, message)
    bounce = only(await events_of(sessions, message.id), EventType.BOUNCE)
    assert (bounce.details["bounce_type"], bounce.details["status"]) == ("hard", "5.1.2")


async def test_a_421_greeting_defers_and_backs_the_host_off_for_every_message(
    outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    route(dns, "inbox.test", (10, mx[0].address))
    mx[0].script.greeting = "421 4.7.0 Too many connections, slow down"
    first = await rendered_factory(tenant, [RCPT])
    second = await rendered_factory(tenant, ["bob@inbox.test"])

    await run(outbound, first)
    await run(outbound, second)

    assert mx[0].connections == 1  # the second message did not knock again
    deferred = only(await events_of(sessions, first.id), EventType.DEFERRED)
    assert deferred.details["smtp_response"] == "421 4.7.0 Too many connections, slow down"
    held_off = only(await events_of(sessions, second.id), EventType.DEFERRED)
    assert held_off.details["smtp_response"].startswith(
        "421 4.4.5 Not connecting to mx1.inbox.test"
    )


async def test_an_mx_whose_host_has_no_address_defers(
    outbound: Outbound, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, dns: Zone,
) -> None:  # fmt: skip
    dns.mx("inbox.test", (10, "ghost.inbox.test"))
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    deferred = only(await events_of(sessions, message.id), EventType.DEFERRED)
    assert deferred.details["smtp_response"].startswith("451 4.4.4 No address found for any MX")
