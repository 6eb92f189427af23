"""Delivery's SQL (store.py): claims, recipient changes and message moves for many rows are each
one UPDATE per chunk of rows, every row getting its own values and its own guard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from scaisend_core.db import SessionFactory
from scaisend_core.models import MessageStatus, Tenant, utcnow
from scaisend_smtp.outbound import store
from scaisend_smtp.outbound.store import MessageMove, RecipientChange
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, load


async def test_a_claim_moves_each_message_only_at_its_own_attempt(
    tenant: Tenant, sender_domain: DomainFixture, rendered_factory: RenderedFactory,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    fresh = await rendered_factory(tenant, ["a@inbox.test"])
    later = await rendered_factory(tenant, ["b@inbox.test"])
    now = utcnow()
    async with sessions() as session:
        assert await store.claim(session, [(later.id, 0)], now) == 1
        await session.commit()
    async with sessions() as session:
        # `later` is at attempt 1 now: a job for its attempt 0 is stale, one for 1 is not
        won = await store.claim(session, [(fresh.id, 0), (later.id, 0)], now)
        assert won == 1
        assert await store.claim(session, [(later.id, 1)], now) == 1
        await session.commit()

    assert ((await load(sessions, fresh.id))[0].attempts) == 1
    assert ((await load(sessions, later.id))[0].attempts) == 2


async def test_more_rows_than_one_statement_holds_each_get_their_own_values(
    tenant: Tenant, sender_domain: DomainFixture, rendered_factory: RenderedFactory,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    count = store.ROWS_PER_STATEMENT + 3  # two statements, the second padded
    rendered = await rendered_factory(tenant, [f"r{n}@inbox.test" for n in range(count)])
    now = utcnow()
    retry = now + timedelta(minutes=5)
    changes = [
        RecipientChange(
            id=r.id, status="delivered" if n % 2 else "deferred", smtp_response=f"250 ok {n}",
            bounce_type=None, attempts=n, next_attempt_at=None if n % 2 else retry,
            delivered_at=now if n % 2 else None, updated_at=now,
        )
        for n, r in enumerate(rendered.recipients)
    ]  # fmt: skip
    async with sessions() as session:
        await store.claim(session, [(rendered.id, 0)], now)
        await store.update_recipients(session, changes)
        await session.commit()

    _, rows = await load(sessions, rendered.id)
    by_id = {row.id: row for row in rows}
    for change in changes:
        row = by_id[change.id]
        assert (row.status, row.smtp_response, row.attempts) == (
            change.status, change.smtp_response, change.attempts,
        )  # fmt: skip
        assert row.next_attempt_at == change.next_attempt_at
        assert row.delivered_at == change.delivered_at


async def test_moves_keep_stamps_not_given_and_skip_messages_no_longer_sending(
    tenant: Tenant, sender_domain: DomainFixture, rendered_factory: RenderedFactory,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    done, waiting, untouched = [
        await rendered_factory(tenant, [f"r{n}@inbox.test"]) for n in range(3)
    ]
    now = utcnow()
    retry = now + timedelta(minutes=10)
    async with sessions() as session:
        await store.claim(session, [(done.id, 0), (waiting.id, 0)], now)  # not `untouched`
        await store.move_messages(session, [
            MessageMove(done.id, MessageStatus.DELIVERED, now, None, sent_at=now,
                        delivered_at=now),
            MessageMove(waiting.id, MessageStatus.SENDING, now, retry),
            MessageMove(untouched.id, MessageStatus.FAILED, now, None, error="nope"),
        ])  # fmt: skip
        await session.commit()

    row = (await load(sessions, done.id))[0]
    assert (row.status, row.sent_at, row.delivered_at, row.next_attempt_at) == (
        "delivered", now, now, None,
    )  # fmt: skip
    row = (await load(sessions, waiting.id))[0]
    assert (row.status, row.next_attempt_at, row.sent_at, row.error_message) == (
        "sending", retry, None, None,
    )  # fmt: skip
    row = (await load(sessions, untouched.id))[0]
    assert (row.status, row.error_message) == ("rendered", None)


async def test_a_claim_in_a_rolled_back_session_is_undone_and_never_compiled_per_execution(
    tenant: Tenant, sender_domain: DomainFixture, rendered_factory: RenderedFactory,
    sessions: SessionFactory, db: AsyncEngine,
) -> None:  # fmt: skip
    rendered = await rendered_factory(tenant, ["a@inbox.test"])
    through_sqlalchemy: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        through_sqlalchemy.append(statement)

    event.listen(db.sync_engine, "before_cursor_execute", seen)
    try:
        async with sessions() as session:
            assert await store.claim(session, [(rendered.id, 0)], utcnow()) == 1
            await session.rollback()  # the driver ran it in the session's own transaction
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", seen)

    assert not [s for s in through_sqlalchemy if s.startswith("UPDATE")]
    stored, _ = await load(sessions, rendered.id)
    assert (stored.status, stored.attempts) == ("rendered", 0)
