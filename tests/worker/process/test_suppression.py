"""Recipients on suppression lists are dropped with a reason unless the matching bypass flag is
set (sendgrid-v3 §2.1); ASM group unsubscribes drop only for that group."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.ids import new_id
from scaisend_core.models import AsmGroup, AsmSuppression, MessageStatus, SuppressionKind, Tenant
from scaisend_core.queue.contracts import SMTP_DELIVER
from scaisend_core.repositories.suppressions import add_suppression
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import Outcome, process_message
from tests.fixtures.factories import TenantFactory
from tests.fixtures.messages import MessageFactory
from tests.worker.support import events, message_row, queued, recipient_statuses

LISTED = "listed@example.test"
CLEAN = "clean@example.test"


async def suppress(sessions: SessionFactory, tenant: Tenant, kind: SuppressionKind) -> None:
    async with sessions() as session:
        await add_suppression(session, tenant_id=tenant.id, kind=kind, email=LISTED.upper())
        await session.commit()


async def add_group_unsubscribe(sessions: SessionFactory, tenant: Tenant) -> int:
    async with sessions() as session:
        group = AsmGroup(tenant_id=tenant.id, name="Newsletter")
        session.add(group)
        await session.flush()
        assert group.id is not None
        session.add(
            AsmSuppression(id=new_id("sup"), tenant_id=tenant.id, group_id=group.id, email=LISTED)
        )
        await session.commit()
        return group.id


async def test_a_bounced_address_is_dropped_and_the_rest_still_sent(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
) -> None:
    await suppress(sessions, tenant, SuppressionKind.BOUNCE)
    made = await message_factory(tenant, to=[LISTED, CLEAN])

    assert await process_message(worker, made.id) == Outcome.RENDERED

    assert await recipient_statuses(sessions, made.id) == {LISTED: "dropped", CLEAN: "pending"}
    found = {(e.event_type, e.recipient_email): e.details for e in await events(sessions, made.id)}
    assert set(found) == {("dropped", LISTED), ("processed", CLEAN)}
    assert found[("dropped", LISTED)]["reason"] == "suppressed_bounce"
    assert found[("dropped", LISTED)]["sendgrid_reason"] == "Bounced Address"


@pytest.mark.parametrize(
    ("kind", "bypass", "dropped"),
    [
        (SuppressionKind.BOUNCE, "bypass_bounce_management", False),
        (SuppressionKind.SPAM_REPORT, "bypass_spam_management", False),
        (SuppressionKind.UNSUBSCRIBE, "bypass_unsubscribe_management", False),
        (SuppressionKind.BOUNCE, "bypass_spam_management", True),
        (SuppressionKind.SPAM_REPORT, "bypass_unsubscribe_management", True),
        (SuppressionKind.INVALID_EMAIL, "bypass_bounce_management", True),
        (SuppressionKind.INVALID_EMAIL, "bypass_list_management", False),
        (SuppressionKind.UNSUBSCRIBE, "bypass_list_management", False),
    ],
)
async def test_each_bypass_flag_skips_only_its_own_list(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    kind: SuppressionKind,
    bypass: str,
    dropped: bool,
) -> None:
    await suppress(sessions, tenant, kind)
    made = await message_factory(
        tenant, to=[LISTED, CLEAN], mail_settings={bypass: {"enable": True}}
    )

    await process_message(worker, made.id)

    statuses = await recipient_statuses(sessions, made.id)
    assert statuses[LISTED] == ("dropped" if dropped else "pending")


async def test_blocks_are_not_a_suppression(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    await suppress(sessions, tenant, SuppressionKind.BLOCK)
    made = await message_factory(tenant, to=[LISTED])

    assert await process_message(worker, made.id) == Outcome.RENDERED


async def test_group_unsubscribes_drop_sends_to_that_group(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    group_id = await add_group_unsubscribe(sessions, tenant)
    in_group = await message_factory(tenant, to=[LISTED, CLEAN], asm_group_id=group_id)
    no_group = await message_factory(tenant, to=[LISTED])

    await process_message(worker, in_group.id)
    await process_message(worker, no_group.id)

    assert (await recipient_statuses(sessions, in_group.id))[LISTED] == "dropped"
    dropped = [e for e in await events(sessions, in_group.id) if e.event_type == "dropped"]
    assert dropped[0].details["reason"] == "suppressed_group_unsubscribe"
    assert (await recipient_statuses(sessions, no_group.id))[LISTED] == "pending"


@pytest.mark.parametrize(
    ("bypass", "dropped"),
    [("bypass_unsubscribe_management", True), ("bypass_list_management", False)],
)
async def test_only_list_management_bypasses_group_unsubscribes(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    bypass: str,
    dropped: bool,
) -> None:
    group_id = await add_group_unsubscribe(sessions, tenant)
    made = await message_factory(
        tenant, to=[LISTED, CLEAN], asm_group_id=group_id, mail_settings={bypass: {"enable": True}}
    )

    await process_message(worker, made.id)

    assert (await recipient_statuses(sessions, made.id))[LISTED] == (
        "dropped" if dropped else "pending"
    )


async def test_when_every_recipient_is_dropped_nothing_is_rendered_or_delivered(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    await suppress(sessions, tenant, SuppressionKind.SPAM_REPORT)
    made = await message_factory(tenant, to=[LISTED])

    assert await process_message(worker, made.id) == Outcome.ALL_DROPPED

    row = await message_row(sessions, made.id)
    assert (row.status, row.mime_key) == (MessageStatus.FAILED, None)
    assert "dropped" in (row.error_message or "")
    assert [e.details["sendgrid_reason"] for e in await events(sessions, made.id)] == [
        "Spam Reporting Address"
    ]
    assert await queued(redis, SMTP_DELIVER) == []


async def test_suppressions_of_another_tenant_do_not_apply(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    tenant_factory: TenantFactory,
    sessions: SessionFactory,
) -> None:
    other = await tenant_factory("Other")
    await suppress(sessions, other, SuppressionKind.BOUNCE)
    made = await message_factory(tenant, to=[LISTED])

    assert await process_message(worker, made.id) == Outcome.RENDERED
