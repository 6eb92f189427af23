"""Group commit of /v3/mail/send: concurrent sends share transactions, yet each 202 means its
own rows are committed and queued, and one send whose rows cannot be written fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import Table, bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select

from scaisend_api.services.mail.committer import GroupCommitter
from scaisend_api.services.mail.rows import Context, Rows, build_rows
from scaisend_api.services.mail.validation import check_mail
from scaisend_core.db import Reads, SessionFactory, _driver_insert, open_reads
from scaisend_core.models import EmailMessage, MessageRecipient, Tenant, utcnow
from scaisend_core.repositories.mail import (
    _ATTACHMENTS,
    _MESSAGES,
    _RECIPIENTS,
    insert_accepted,
    insert_accepted_rows,
)
from tests.api.helpers import SENDER_DOMAIN, add_verified_domain, mail_body, queued_jobs, state_of
from tests.fixtures.factories import KeyFixture


@pytest.fixture
async def verified_sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def _count(sessions: SessionFactory, model: type[EmailMessage | MessageRecipient]) -> int:
    async with sessions() as session:
        return int((await session.exec(select(func.count(col(model.id))))).one())


@pytest.mark.usefixtures("verified_sender")
async def test_concurrent_sends_are_each_committed_and_queued(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    bodies = [
        mail_body(personalizations=[{"to": [{"email": f"r{i}@example.com"}]}]) for i in range(8)
    ]
    responses = await asyncio.gather(
        *(client.post("/v3/mail/send", headers=api_key.headers, json=b) for b in bodies)
    )
    assert [r.status_code for r in responses] == [202] * 8
    ids = {r.json()["message_id"] for r in responses}
    assert len(ids) == 8
    async with sessions() as session:
        rows = (await session.exec(select(EmailMessage.id))).all()
    assert set(rows) == ids
    assert await _count(sessions, MessageRecipient) == 8
    assert {j["message_id"] for j in await queued_jobs(redis)} == ids


def _rows(tenant_id: str, email: str) -> Rows:
    checked = check_mail(mail_body(personalizations=[{"to": [{"email": email}]}]), 0)
    assert checked.request is not None
    ctx = Context(tenant_id, None, "mta.scaisend.test", sandbox=False, now=utcnow())
    return build_rows(checked.request, ctx)


async def test_one_unwritable_send_fails_alone(
    client: httpx.AsyncClient, tenant: Tenant, sessions: SessionFactory, redis: ArqRedis
) -> None:
    committer = GroupCommitter(state_of(client).reads)
    good, bad = _rows(tenant.id, "good@example.com"), _rows(tenant.id, "bad@example.com")
    bad.messages[0]["id"] = good.messages[0]["id"]
    bad.recipients[0]["message_id"] = good.messages[0]["id"]
    results = await asyncio.gather(
        committer.submit(good, redis), committer.submit(bad, redis),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] is None
    assert isinstance(results[1], IntegrityError)
    assert await _count(sessions, EmailMessage) == 1
    assert await _count(sessions, MessageRecipient) == 1
    assert [j["message_id"] for j in await queued_jobs(redis)] == [good.messages[0]["id"]]


def _rich_rows(tenant_id: str, now: datetime) -> Rows:
    """Every kind of column: JSON (objects, lists, empty, non-ASCII), NULLs, datetimes,
    booleans, a scheduled send_at, attachments."""
    body = mail_body(
        personalizations=[
            {
                "to": [{"email": "ada@example.com", "name": "Ada Lövelace"}],
                "cc": [{"email": "cc@example.com"}],
                "substitutions": {"-name-": "Ada"},
                "custom_args": {"order": "42"},
                "send_at": int(now.timestamp()) + 3600,
            },
            {"to": [{"email": "b@example.com"}], "dynamic_template_data": {"x": [1, 2.5, None]}},
        ],
        categories=["orders", "shipping"],
        subject="Bestellung für Café Ümlaut",
        headers={"X-Campaign": "spring"},
        reply_to={"email": "support@example.com", "name": "Support"},
        attachments=[{"content": "aGVsbG8=", "filename": "a.txt", "type": "text/plain"}],
        mail_settings={"bypass_list_management": {"enable": True}},
        tracking_settings={"click_tracking": {"enable": False}},
    )
    checked = check_mail(body, int(now.timestamp()))
    assert checked.errors == []
    assert checked.request is not None
    ctx = Context(tenant_id, None, "mta.scaisend.test", sandbox=False, now=now)
    return build_rows(checked.request, ctx)


async def test_the_driver_insert_stores_what_sqlalchemy_stores(
    tenant: Tenant, sessions: SessionFactory, db: AsyncEngine
) -> None:
    """The group commit hands rows to asyncmy's executemany itself (repositories/mail.py);
    every column must hold exactly what SQLAlchemy's own INSERT writes for the same rows."""
    now = utcnow()
    driver, orm = _rich_rows(tenant.id, now), _rich_rows(tenant.id, now)
    async with sessions() as session:
        await insert_accepted(session, orm.messages, orm.recipients, orm.attachments)
        await session.commit()
        dialect = (await session.connection()).dialect
    for table, rows in ((_MESSAGES, driver.messages), (_RECIPIENTS, driver.recipients),
                        (_ATTACHMENTS, driver.attachments)):  # fmt: skip
        assert _driver_insert(dialect, table, rows) is not None  # not the engine fallback
    reads = await open_reads(db, size=1, recycle=60)
    try:
        await insert_accepted_rows(reads, driver.messages, driver.recipients, driver.attachments)
    finally:
        await reads.close()

    async def stored(table: str, ids: list[str], key: str) -> list[dict[str, object]]:
        async with sessions() as session:
            result = await session.exec(  # type: ignore[call-overload]
                text(f"SELECT * FROM {table} WHERE {key} IN :ids ORDER BY {key}, id").bindparams(
                    bindparam("ids", expanding=True)
                ),
                params={"ids": ids},
            )
            skip = {"id", "message_id", "message_id_header"}
            rows = [{k: v for k, v in row._mapping.items() if k not in skip} for row in result]
            return sorted(rows, key=repr)  # ids are random: compare the rows as a set

    orm_ids, driver_ids = orm.message_ids, driver.message_ids
    for table, key in (("email_messages", "id"), ("message_recipients", "message_id"),
                       ("message_attachments", "message_id")):  # fmt: skip
        ours, theirs = await stored(table, driver_ids, key), await stored(table, orm_ids, key)
        assert len(ours) == len(theirs) > 0
        assert ours == theirs


class _GatedReads:
    """The real Reads, counting group writes; a write of at least `gate_rows` messages waits
    for `release` (a big group held in flight)."""

    def __init__(self, reads: Reads, gate_rows: int) -> None:
        self._reads = reads
        self._gate_rows = gate_rows
        self.release = asyncio.Event()
        self.writes: list[int] = []

    async def insert_many(self, inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> None:
        messages = len(inserts[0][1])
        self.writes.append(messages)
        if messages >= self._gate_rows:
            await self.release.wait()
        await self._reads.insert_many(inserts)


def _many_rows(tenant_id: str, count: int) -> Rows:
    personalizations = [{"to": [{"email": f"r{i}@example.com"}]} for i in range(count)]
    checked = check_mail(mail_body(personalizations=personalizations), 0)
    assert checked.request is not None
    return build_rows(checked.request, Context(tenant_id, None, "mta.x", False, utcnow()))


async def test_sends_arriving_during_a_commit_share_the_next_one(
    client: httpx.AsyncClient, tenant: Tenant, sessions: SessionFactory, redis: ArqRedis
) -> None:
    reads = _GatedReads(state_of(client).reads, gate_rows=1)  # every write waits for release
    committer = GroupCommitter(reads)  # type: ignore[arg-type]
    first = asyncio.create_task(committer.submit(_rows(tenant.id, "a@example.com"), redis))
    await asyncio.sleep(0.01)
    later = [
        asyncio.create_task(committer.submit(_rows(tenant.id, f"b{i}@example.com"), redis))
        for i in range(5)
    ]
    await asyncio.sleep(0.01)
    assert reads.writes == [1]  # one writer, busy: the five wait together
    reads.release.set()
    await asyncio.gather(first, *later)
    assert reads.writes == [1, 5]
    assert await _count(sessions, EmailMessage) == 6


async def test_a_small_send_is_not_held_up_behind_a_big_group(
    client: httpx.AsyncClient, tenant: Tenant, sessions: SessionFactory, redis: ArqRedis
) -> None:
    reads = _GatedReads(state_of(client).reads, gate_rows=300)
    committer = GroupCommitter(reads)  # type: ignore[arg-type]
    big = asyncio.create_task(committer.submit(_many_rows(tenant.id, 300), redis))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(committer.submit(_rows(tenant.id, "small@example.com"), redis), 5)
    assert not big.done()
    assert await _count(sessions, EmailMessage) == 1
    reads.release.set()
    await big
    assert await _count(sessions, EmailMessage) == 301


@pytest.mark.usefixtures("verified_sender")
async def test_a_send_whose_rows_outgrow_a_packet_is_stored_whole(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    """Every message row carries the send's content: 170 personalizations of a 100 KB HTML
    body are ~17 MB of rows, more than MariaDB's max_allowed_packet (16 MB) in one statement."""
    html = "<p>" + "x" * 100_000 + "</p>"
    body = mail_body(
        personalizations=[{"to": [{"email": f"r{i}@example.com"}]} for i in range(170)],
        content=[{"type": "text/html", "value": html}],
    )
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 202
    assert await _count(sessions, EmailMessage) == 170
    assert await _count(sessions, MessageRecipient) == 170
    assert len(await queued_jobs(redis)) == 170


class _HeldCommitter(GroupCommitter):
    """Its first group, once committed and enqueued, waits for `release` before the writer
    settles it and finishes: the writer's last step happens when the test chooses."""

    def __init__(self, reads: Reads, release: asyncio.Future[None]) -> None:
        super().__init__(reads)
        self.release = release
        self.groups = 0
        self.held = asyncio.Event()

    async def _enqueue(self, group: list[Any]) -> None:
        await super()._enqueue(group)
        self.groups += 1
        if self.groups == 1:
            self.held.set()
            await self.release


async def test_a_send_arriving_as_the_writer_finishes_is_committed(
    client: httpx.AsyncClient, tenant: Tenant, sessions: SessionFactory, redis: ArqRedis
) -> None:
    """The writer finishes in the same loop turn as another request reaches submit() (their
    awaits end together): that send must get a writer of its own, not wait for a later send."""
    loop = asyncio.get_running_loop()
    writer_done, request_ready = loop.create_future(), loop.create_future()
    committer = _HeldCommitter(state_of(client).reads, writer_done)
    first = asyncio.create_task(committer.submit(_rows(tenant.id, "a@example.com"), redis))

    async def second_request() -> None:
        await request_ready
        await committer.submit(_rows(tenant.id, "b@example.com"), redis)

    second = asyncio.create_task(second_request())
    await asyncio.wait_for(committer.held.wait(), 5)
    loop.call_soon(lambda: (writer_done.set_result(None), request_ready.set_result(None)))
    await asyncio.wait_for(first, 5)
    await asyncio.wait_for(second, 2)
    assert await _count(sessions, EmailMessage) == 2
    assert len(await queued_jobs(redis)) == 2
