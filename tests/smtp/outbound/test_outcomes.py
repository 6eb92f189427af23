"""What SMTP replies become: deferrals and retries on SMTP_RETRY_SCHEDULE, bounces by class with
their suppression rows, mixed outcomes, lost connections, expiry after SMTP_MAX_RETRY_AGE."""

from __future__ import annotations

from datetime import timedelta

import pytest
from arq.connections import ArqRedis
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import Suppression, SuppressionKind, Tenant
from scaisend_core.queue import DeliverMessage
from scaisend_core.repositories.suppressions import add_suppression
from scaisend_smtp.outbound.context import Outbound
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import Clock, DomainFixture, events_of, kinds, load, only, route, run

RCPT = "ada@inbox.test"


@pytest.fixture
def inbox(dns: Zone, mx: MxFleet) -> MxFleet:
    route(dns, "inbox.test", (10, mx[0].address))
    return mx


async def suppressions(sessions: SessionFactory) -> list[tuple[str, str, str | None]]:
    async with sessions() as session:
        rows = (await session.exec(select(Suppression))).all()
        return [(r.kind, r.email, r.bounce_type) for r in rows]


async def queued_jobs(redis: ArqRedis) -> list[tuple[str, float]]:
    return [(k.decode(), s) for k, s in await redis.zrange("smtp:deliver", 0, -1, withscores=True)]


async def test_a_4xx_defers_and_the_retry_delivers(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, redis: ArqRedis, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = ["450 4.2.1 Mailbox busy, try later", "250 2.1.5 OK"]
    message = await rendered_factory(tenant, [RCPT])

    first = await run(outbound, message)

    assert first == "attempt 1: 1 soft_fail; 0 held"
    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status, recipient.attempts) == ("sending", "deferred", 1)
    assert recipient.next_attempt_at == clock.value + timedelta(seconds=60)
    assert stored.next_attempt_at == recipient.next_attempt_at
    deferred = only(await events_of(sessions, message.id), EventType.DEFERRED)
    assert deferred.details == {
        "smtp_response": "450 4.2.1 Mailbox busy, try later", "attempt": 1,
        "mx": "mx1.inbox.test", "next_attempt_at": recipient.next_attempt_at.isoformat(),
    }  # fmt: skip
    job_id = DeliverMessage(message_id=message.id, attempt=1).job_id()
    [(queued, due_ms)] = await queued_jobs(redis)
    assert queued == job_id
    assert due_ms == pytest.approx(recipient.next_attempt_at.timestamp() * 1000, abs=1)

    clock.advance(seconds=61)
    second = await run(outbound, message, attempt=1)

    assert second == "attempt 2: 1 sent; 0 held"
    assert kinds(await events_of(sessions, message.id)) == ["deferred", "delivered"]
    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status, recipient.attempts) == ("delivered", "delivered", 2)
    assert only(await events_of(sessions, message.id), EventType.DELIVERED).details["attempt"] == 2


async def test_retries_back_off_along_the_schedule(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = ["451 4.3.0 Try again later"] * 4
    message = await rendered_factory(tenant, [RCPT])
    waits = []
    for attempt in range(4):
        started = clock.value
        await run(outbound, message, attempt=attempt)
        _, [recipient] = await load(sessions, message.id)
        assert recipient.next_attempt_at is not None
        waits.append(int((recipient.next_attempt_at - started).total_seconds()))
        clock.advance(seconds=waits[-1] + 1)

    # The test settings' SMTP_RETRY_SCHEDULE is 60,300,900; its last delay repeats.
    assert list(outbound.settings.smtp_retry_schedule) == [60, 300, 900]
    assert waits == [60, 300, 900, 900]
    assert kinds(await events_of(sessions, message.id)) == ["deferred"] * 4


async def test_a_retry_that_comes_too_early_is_put_back(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, clock: Clock,
) -> None:  # fmt: skip
    from arq import Retry

    inbox[0].script.rcpt[RCPT] = ["450 4.2.1 Mailbox busy"]
    message = await rendered_factory(tenant, [RCPT])
    await run(outbound, message)
    clock.advance(seconds=10)

    with pytest.raises(Retry) as retry:
        await run(outbound, message, attempt=1)

    assert retry.value.defer_score == 50_000
    assert len(inbox[0].received) == 0


@pytest.mark.parametrize(
    ("reply", "event", "bounce_type", "list_kind"),
    [
        ("550 5.1.1 <ada@inbox.test>: User unknown", EventType.BOUNCE, "hard", "bounce"),
        ("552 5.2.2 Mailbox full", EventType.BOUNCE, "soft", "bounce"),
        ("550 5.7.1 Message rejected due to content", EventType.BLOCKED, "block", "block"),
    ],
)
async def test_a_5xx_bounces_by_class_and_suppresses_the_address(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, reply: str, event: EventType,
    bounce_type: str, list_kind: str,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = [reply]
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status, recipient.bounce_type) == (
        "bounced",
        "bounced",
        bounce_type,
    )
    bounced = only(await events_of(sessions, message.id), event)
    assert bounced.details["bounce_type"] == bounce_type
    assert bounced.details["reason"] == reply
    assert bounced.details["status"] == reply.split()[1]
    assert bounced.details["bounce_classification"]
    assert await suppressions(sessions) == [(list_kind, RCPT, bounce_type)]


async def test_a_5xx_after_data_bounces_every_accepted_recipient(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    inbox[0].script.data = ["554 5.7.1 Spam message rejected"]
    message = await rendered_factory(tenant, [RCPT, "bob@inbox.test"])
    await run(outbound, message)
    assert kinds(await events_of(sessions, message.id)) == ["blocked", "blocked"]


async def test_one_refused_recipient_among_accepted_ones(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    inbox[0].script.rcpt["gone@inbox.test"] = ["550 5.1.1 User unknown"]
    message = await rendered_factory(tenant, [RCPT, "gone@inbox.test", "bob@inbox.test"])

    await run(outbound, message)

    [received] = inbox[0].received
    assert sorted(received.rcpt_tos) == ["ada@inbox.test", "bob@inbox.test"]
    stored, recipients = await load(sessions, message.id)
    assert stored.status == "delivered"  # any accepted recipient makes the message delivered
    assert {r.email: r.status for r in recipients} == {
        "ada@inbox.test": "delivered", "gone@inbox.test": "bounced", "bob@inbox.test": "delivered",
    }  # fmt: skip
    assert sorted(kinds(await events_of(sessions, message.id))) == [
        "bounce",
        "delivered",
        "delivered",
    ]
    assert await suppressions(sessions) == [("bounce", "gone@inbox.test", "hard")]


async def test_a_connection_dropped_mid_data_defers(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.drop_mid_data = 1
    message = await rendered_factory(tenant, [RCPT])

    await run(outbound, message)

    deferred = only(await events_of(sessions, message.id), EventType.DEFERRED)
    assert deferred.details["smtp_response"].startswith(
        "421 4.4.2 Connection with mx1.inbox.test lost"
    )
    assert inbox[0].received == []
    clock.advance(seconds=61)
    await run(outbound, message, attempt=1)
    assert len(inbox[0].received) == 1


async def test_a_message_still_failing_after_the_max_retry_age_bounces_as_expired(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = ["451 4.3.0 Temporary local problem"]
    message = await rendered_factory(tenant, [RCPT], processed_at=clock.value - timedelta(hours=72))

    await run(outbound, message)

    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status, recipient.bounce_type) == (
        "bounced",
        "bounced",
        "soft",
    )
    bounce = only(await events_of(sessions, message.id), EventType.BOUNCE)
    assert bounce.details["bounce_type"] == "soft"
    assert "expired" in bounce.details["reason"]
    assert bounce.details["status"] == "4.3.0"
    assert await suppressions(sessions) == [("bounce", RCPT, "soft")]


async def test_the_last_retry_is_scheduled_at_the_deadline(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = ["451 4.3.0 Temporary local problem"]
    processed = clock.value - timedelta(hours=72) + timedelta(seconds=20)
    message = await rendered_factory(tenant, [RCPT], processed_at=processed)

    await run(outbound, message)

    _, [recipient] = await load(sessions, message.id)
    assert recipient.next_attempt_at == processed + timedelta(hours=72)


async def test_a_recipient_suppressed_since_the_last_attempt_is_dropped_on_retry(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, clock: Clock,
) -> None:  # fmt: skip
    inbox[0].script.rcpt[RCPT] = ["450 4.2.1 Mailbox busy"]
    message = await rendered_factory(tenant, [RCPT])
    await run(outbound, message)
    async with sessions() as session:
        await add_suppression(session, tenant_id=tenant.id, kind=SuppressionKind.SPAM_REPORT,
                              email=RCPT, source="arf")  # fmt: skip
        await session.commit()
    clock.advance(seconds=61)

    await run(outbound, message, attempt=1)

    assert kinds(await events_of(sessions, message.id)) == ["deferred", "dropped"]
    dropped = only(await events_of(sessions, message.id), EventType.DROPPED)
    assert dropped.details["reason"] == "Spam Reporting Address"
    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status) == ("failed", "dropped")


async def test_a_message_whose_mime_is_gone_fails(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory, test_env: dict[str, str],
) -> None:  # fmt: skip
    from pathlib import Path

    message = await rendered_factory(tenant, [RCPT])
    (Path(test_env["STORAGE_DIR"]) / (message.message.mime_key or "")).unlink()

    summary = await run(outbound, message)

    assert summary.startswith("failed: the rendered message mime/")
    stored, [recipient] = await load(sessions, message.id)
    assert (stored.status, recipient.status) == ("failed", "dropped")
    assert "missing from storage" in (stored.error_message or "")
    assert inbox[0].connections == 0
