"""Messages processed as a group (one transaction, one statement per step) end exactly as they
end alone: the same rows, events, webhook deliveries, delivery jobs and MIME bytes. A group
that cannot finish together falls back to each message alone; each job gets its own outcome."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import text

from scaisend_core.db import SessionFactory
from scaisend_core.errors import StorageError
from scaisend_core.ids import new_id
from scaisend_core.models import (
    AsmGroup,
    AsmSuppression,
    EmailMessage,
    MailBatch,
    MessageStatus,
    SuppressionKind,
    Tenant,
    WebhookEndpoint,
)
from scaisend_core.queue.contracts import SMTP_DELIVER, WEBHOOK_DELIVER
from scaisend_core.repositories.suppressions import add_suppression
from scaisend_core.storage import Body, Storage
from scaisend_worker import repository
from scaisend_worker.context import WorkerContext
from scaisend_worker.process import groups as groups_module
from scaisend_worker.process import pipeline
from scaisend_worker.process.groups import MessageGroups
from scaisend_worker.process.pipeline import Outcome, process_group, process_message
from tests.fixtures.factories import TenantFactory
from tests.fixtures.messages import Attachment, MessageFactory
from tests.worker.support import add_template, events, message_row, queued, recipient_statuses

LISTED, CLEAN, GROUPED = "listed@example.test", "clean@example.test", "grouped@example.test"


async def _setup(sessions: SessionFactory, tenant: Tenant) -> dict[str, Any]:
    """Lists, an ASM group, a subscribed endpoint and two templates for the specs below."""
    async with sessions() as session:
        await add_suppression(session, tenant_id=tenant.id, kind=SuppressionKind.BOUNCE,
                              email=LISTED)  # fmt: skip
        group = AsmGroup(tenant_id=tenant.id, name="Newsletter")
        session.add(group)
        await session.flush()
        assert group.id is not None
        session.add(AsmSuppression(id=new_id("sup"), tenant_id=tenant.id, group_id=group.id,
                                   email=GROUPED))  # fmt: skip
        session.add(MailBatch(id="batch-cancelled", tenant_id=tenant.id, status="cancel"))
        session.add(MailBatch(id="batch-paused", tenant_id=tenant.id, status="pause"))
        session.add(WebhookEndpoint(id=new_id("wh"), tenant_id=tenant.id,
                                    url="https://hooks.example.test/x", enabled_events=["*"],
                                    signing_secret="v1.x.y"))  # fmt: skip
        await session.commit()
    good, _ = await add_template(
        sessions, tenant, html="<html><body><a href='https://a.example/{{id}}'>Hi {{name}}</a>"
        "{{{unsubscribe}}}</body></html>",
    )  # fmt: skip
    broken, _ = await add_template(sessions, tenant, html="<p>{{items.name}}</p>")
    return {"asm_group": group.id, "good": good.id, "broken": broken.id}


def _specs(tenant: Tenant, other: Tenant, refs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every way a message can end, for two tenants (kwargs for the message factory)."""
    tracking = {"subscription_tracking": {"enable": True}, "click_tracking": {"enable": True}}
    specs: list[dict[str, Any]] = [
        {"to": ["ada@example.test", ("Bob", "bob@example.test")], "cc": ["c@example.test"],
         "bcc": ["h@example.test"]},
        {"to": [LISTED, CLEAN]},
        {"to": [LISTED]},
        {"to": [LISTED], "mail_settings": {"bypass_list_management": {"enable": True}}},
        {"to": [GROUPED, CLEAN], "asm_group_id": refs["asm_group"]},
        {"template_id": refs["good"], "dynamic_template_data": {"name": "Ada", "id": 7},
         "tracking_settings": tracking},
        {"template_id": refs["broken"], "dynamic_template_data": {"items": [{"name": "x"}]}},
        {"attachments": [Attachment(b"a,b\n1,2\n" * 50)]},
        {"status": MessageStatus.CANCELLED.value},
        {"batch_id": "batch-cancelled"},
        {"batch_id": "batch-paused"},
        {"tenant": other, "to": [LISTED]},  # not on the other tenant's lists
    ]  # fmt: skip
    for spec in specs:
        spec.setdefault("tenant", tenant)
        spec["message_id"] = new_id("msg")
        spec["recipient_ids"] = [new_id("rcp") for _ in range(4)]
    return specs


async def _make(factory: MessageFactory, specs: Sequence[dict[str, Any]]) -> list[str]:
    made = []
    for spec in specs:
        kwargs = dict(spec)
        made.append((await factory(kwargs.pop("tenant"), **kwargs)).id)
    return made


async def _snapshot(
    worker: WorkerContext, sessions: SessionFactory, redis: ArqRedis, ids: Sequence[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for message_id in ids:
        row = await message_row(sessions, message_id)
        mime = await worker.storage.get(row.mime_key) if row.mime_key else None
        found[message_id] = (
            row.status, row.error_message, row.mime_key, row.mime_size, row.processed_at,
            row.template_version_id, await recipient_statuses(sessions, message_id),
            [(e.event_type, e.recipient_email, e.details, e.occurred_at)
             for e in await events(sessions, message_id)],
            mime,
        )  # fmt: skip
    async with sessions() as session:
        conn = await session.connection()
        deliveries = await conn.execute(
            text("SELECT e.message_id, e.event_type, e.recipient_email, d.status "
                 "FROM webhook_deliveries d JOIN message_events e ON e.id = d.event_id")
        )  # fmt: skip
        found["deliveries"] = sorted(tuple(row) for row in deliveries.all())
    found["smtp"] = sorted(await queued(redis, SMTP_DELIVER))
    found["webhook_jobs"] = bool(await queued(redis, WEBHOOK_DELIVER))
    return found


async def _forget(
    worker: WorkerContext, sessions: SessionFactory, redis: ArqRedis, ids: Sequence[str]
) -> None:
    async with sessions() as session:
        for message_id in ids:
            row = await session.get(EmailMessage, message_id)
            if row is not None and row.mime_key:
                await worker.storage.delete(row.mime_key)
        conn = await session.connection()
        await conn.execute(text("DELETE FROM webhook_deliveries"))
        await conn.execute(text("DELETE FROM email_messages"))  # recipients and events cascade
        await session.commit()
    await redis.flushdb()


async def test_a_group_ends_every_message_as_it_ends_alone(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    tenant_factory: TenantFactory,
    sessions: SessionFactory,
    redis: ArqRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = await tenant_factory("Other")
    specs = _specs(tenant, other, await _setup(sessions, tenant))
    missing = new_id("msg")

    ids = await _make(message_factory, specs)
    alone = [await process_message(worker, m) for m in [*ids, missing]]
    expected = await _snapshot(worker, sessions, redis, ids)
    await _forget(worker, sessions, redis, ids)

    assert await _make(message_factory, specs) == ids
    alone_after_group: list[str] = []

    async def spied(app: WorkerContext, message_id: str) -> Outcome:
        alone_after_group.append(message_id)
        return await process_message(app, message_id)

    monkeypatch.setattr(pipeline, "process_message", spied)
    grouped = await process_group(worker, [*ids, missing])
    found = await _snapshot(worker, sessions, redis, ids)

    assert grouped == alone
    # Only the message that was not queued went through alone: the group did not fall back.
    cancelled = next(m for m, spec in zip(ids, specs, strict=True) if "status" in spec)
    assert alone_after_group == [cancelled]
    assert set(alone) == set(Outcome)
    for message_id in ids:
        assert found[message_id] == expected[message_id]
    assert found["deliveries"] == expected["deliveries"]
    assert found["smtp"] == expected["smtp"]
    assert found["webhook_jobs"]
    assert expected["webhook_jobs"]


async def test_a_repeated_id_in_a_group_is_skipped_the_second_time(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    first, second = await message_factory(tenant), await message_factory(tenant)

    outcomes = await process_group(worker, [first.id, second.id, first.id])

    assert outcomes == [Outcome.RENDERED, Outcome.RENDERED, Outcome.SKIPPED]
    assert len(await events(sessions, first.id)) == 1


@dataclasses.dataclass
class FailingFor:
    """Storage whose writes of one key fail, as an S3 outage for that object would."""

    inner: Storage
    key_part: str

    async def put(
        self, key: str, body: Body, content_type: str = "application/octet-stream"
    ) -> int:
        if self.key_part in key:
            raise StorageError(f"S3 put {key}: unavailable")
        return await self.inner.put(key, body, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_storage_failure_fails_only_its_own_job_and_leaves_it_queued(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    broken, fine = await message_factory(tenant), await message_factory(tenant)
    app = dataclasses.replace(worker, storage=FailingFor(worker.storage, broken.id))

    outcomes = await process_group(app, [broken.id, fine.id])

    assert isinstance(outcomes[0], StorageError)
    assert outcomes[1] == Outcome.RENDERED
    assert (await message_row(sessions, broken.id)).status == MessageStatus.QUEUED
    assert await events(sessions, broken.id) == []
    assert await recipient_statuses(sessions, broken.id) == {"ada@example.test": "pending"}
    assert (await message_row(sessions, fine.id)).status == MessageStatus.RENDERED
    assert await queued(redis, SMTP_DELIVER) == [f"deliver_message:{fine.id}:0"]


async def test_a_claim_lost_after_loading_sends_each_message_through_alone(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken, fine = await message_factory(tenant), await message_factory(tenant)
    real_claim = repository.claim_many
    calls: list[int] = []

    async def cancelled_meanwhile(conn: Any, message_ids: Sequence[str]) -> int:
        calls.append(len(message_ids))
        if len(calls) == 1:  # an API cancel commits between the group's load and its claim
            async with sessions() as session:
                await repository.discard(session, [taken.id], "cancelled by the sender")
                await session.commit()
        return await real_claim(conn, message_ids)

    monkeypatch.setattr(repository, "claim_many", cancelled_meanwhile)

    outcomes = await process_group(worker, [taken.id, fine.id])

    assert outcomes == [Outcome.SKIPPED, Outcome.RENDERED]
    assert calls == [2, 1, 1]  # the group's claim, then each message's own
    assert (await message_row(sessions, taken.id)).status == MessageStatus.CANCELLED
    assert await events(sessions, taken.id) == []
    assert (await message_row(sessions, fine.id)).status == MessageStatus.RENDERED


async def test_jobs_submitted_together_share_one_group_and_get_their_own_answers(
    worker: WorkerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    async def fake_group(app: WorkerContext, ids: Sequence[str]) -> list[Outcome | Exception]:
        seen.append(list(ids))
        return [StorageError("down") if i == "b" else Outcome.RENDERED for i in ids]

    monkeypatch.setattr(groups_module, "process_group", fake_group)
    runner = MessageGroups(worker)

    results = await asyncio.gather(
        *(runner.submit(i) for i in ("a", "b", "c")), return_exceptions=True
    )

    assert seen == [["a", "b", "c"]]
    assert results[0] == results[2] == Outcome.RENDERED
    assert isinstance(results[1], StorageError)
    await runner.close()


async def test_closing_abandons_a_group_whose_jobs_were_cancelled(
    worker: WorkerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancelled = asyncio.Event()

    async def stuck_group(app: WorkerContext, ids: Sequence[str]) -> list[Outcome | Exception]:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return [Outcome.RENDERED for _ in ids]

    monkeypatch.setattr(groups_module, "process_group", stuck_group)
    runner = MessageGroups(worker)
    job = asyncio.create_task(runner.submit("a"))
    await asyncio.sleep(0.01)
    job.cancel()  # what serve() does to a job still running after the shutdown timeout

    await asyncio.wait_for(runner.close(), timeout=1)

    assert cancelled.is_set()
