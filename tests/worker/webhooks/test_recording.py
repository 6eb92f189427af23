"""Recording on both sides of delivery: an event and its deliveries are written in one
transaction; attempts are written many rows per statement, yet each row gets its own state, a
finished row is never overwritten and a row deleted meanwhile is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import MessageEvent, Tenant, WebhookDelivery
from scaisend_core.repositories import webhook_deliveries as repo
from scaisend_core.repositories.events import NewEvent, record_events
from scaisend_core.repositories.webhook_deliveries import AttemptRecord
from tests.worker.webhooks.support import add_endpoint, deliveries, emit

AT = datetime(2026, 4, 23, 10, 0, tzinfo=UTC)


def record(delivery_id: str, status: str, attempt: int, code: int | None) -> AttemptRecord:
    entry = {"attempt": attempt, "status_code": code, "error": None if code else "timed out"}
    return AttemptRecord(
        delivery_id=delivery_id,
        status=status,
        attempts=attempt,
        next_attempt_at=AT + timedelta(seconds=60) if status == "pending" else None,
        status_code=code,
        response="ok" if code else None,
        error=None if code else "timed out",
        attempt_log=[entry],
        delivered_at=AT if status == "succeeded" else None,
    )


async def claim_due(
    sessions: SessionFactory, endpoint_id: str, *, limit: int, claim_id: str
) -> repo.Claim | None:
    """Claim what is due a second from now, leased for a minute, and commit the claim."""
    async with sessions() as session:
        claim = await repo.claim(
            session,
            endpoint_id,
            now=datetime.now(UTC) + timedelta(seconds=1),
            lease_until=datetime.now(UTC) + timedelta(minutes=1),
            limit=limit,
            claim_id=claim_id,
        )
        await session.commit()
    return claim


async def test_each_row_gets_its_own_state_and_finished_or_deleted_rows_are_left(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    await add_endpoint(sessions, tenant.id, "https://hooks.example.test/a")
    await emit(sessions, tenant.id, *[EventType.DELIVERED] * 4)
    ok, retry, finished, gone = [row.id for row in await deliveries(sessions)]
    async with sessions() as session:
        await repo.record_attempts(session, [record(finished, "failed", 6, 500)])
        await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.id) == gone))  # type: ignore[call-overload]
        await session.commit()

    async with sessions() as session:
        await repo.record_attempts(
            session,
            [
                record(ok, "succeeded", 1, 200),
                record(retry, "pending", 2, None),
                record(finished, "succeeded", 7, 200),
                record(gone, "succeeded", 1, 200),
            ],
        )
        await session.commit()

    rows = {row.id: row for row in await deliveries(sessions)}
    assert set(rows) == {ok, retry, finished}
    state = {
        key: (
            r.status,
            r.attempts,
            r.last_status_code,
            r.last_response,
            r.last_error,
            r.attempt_log,
            r.next_attempt_at is not None and r.next_attempt_at.replace(tzinfo=UTC),
            r.delivered_at is not None and r.delivered_at.replace(tzinfo=UTC),
        )
        for key, r in rows.items()
    }
    assert state[ok] == (
        "succeeded", 1, 200, "ok", None, [{"attempt": 1, "status_code": 200, "error": None}],
        False, AT,
    )  # fmt: skip
    assert state[retry] == (
        "pending", 2, None, None, "timed out",
        [{"attempt": 2, "status_code": None, "error": "timed out"}], AT + timedelta(seconds=60),
        False,
    )  # fmt: skip
    assert state[finished][:3] == ("failed", 6, 500)  # a finished row is not rewritten


async def test_an_event_and_its_deliveries_commit_or_roll_back_together(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    subscribed = await add_endpoint(sessions, tenant.id, "https://hooks.example.test/a")
    await add_endpoint(sessions, tenant.id, "https://hooks.example.test/b", events=["bounce"])
    new = NewEvent(tenant.id, EventType.DELIVERED, None, "rcpt@example.test")

    async with sessions() as session:
        [event] = await record_events(session, [new])
        await session.rollback()  # the emitter's transaction failed after recording
    assert await count(sessions, MessageEvent, event.id) == 0
    assert await deliveries(sessions) == []

    async with sessions() as session:
        [event] = await record_events(session, [new])
        await session.commit()
    assert await count(sessions, MessageEvent, event.id) == 1
    [delivery] = await deliveries(sessions)
    assert (delivery.event_id, delivery.endpoint_id) == (event.id, subscribed.row.id)


async def count(sessions: SessionFactory, model: type[MessageEvent], row_id: str) -> int:
    async with sessions() as session:
        return len((await session.exec(select(model).where(col(model.id) == row_id))).all())


async def test_claims_and_outcomes_run_read_committed_for_that_transaction_only(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    """Under READ COMMITTED a second read sees another transaction's commit (claims rely on
    it to avoid gap-lock deadlocks with outcome writes); the next transaction on the same
    pooled connection is back to the server's REPEATABLE READ."""

    async def sees_concurrent_commit(read_committed: bool) -> bool:
        async with sessions() as session:
            if read_committed:
                await repo.begin_read_committed(session)
            before = len(await deliveries_in(session))
            await emit(sessions, tenant.id, EventType.DELIVERED)
            after = len(await deliveries_in(session))
            await session.commit()
        return after > before

    await add_endpoint(sessions, tenant.id, "https://hooks.example.test/a")
    assert await sees_concurrent_commit(read_committed=True)
    assert not await sees_concurrent_commit(read_committed=False)
    assert await sees_concurrent_commit(read_committed=True)


async def deliveries_in(session: AsyncSession) -> list[WebhookDelivery]:
    return list((await session.exec(select(WebhookDelivery))).all())


async def test_a_claim_takes_deliveries_oldest_first_and_in_recording_order_within_a_batch(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    """Events recorded together share a due time and get ULIDs that are random within a
    millisecond; the claim still hands them out in the order they were recorded."""
    endpoint = await add_endpoint(sessions, tenant.id, "https://hooks.example.test/a")
    types = [EventType.DELIVERED, EventType.OPEN, EventType.CLICK, EventType.BOUNCE] * 5
    events = await emit(sessions, tenant.id, *types, details={"n": 1})
    later = await emit(sessions, tenant.id, EventType.DELIVERED)
    claim = await claim_due(sessions, endpoint.row.id, limit=100, claim_id="whb_test_order")
    assert claim is not None
    assert [d.event_id for d in claim.deliveries] == [e.id for e in [*events, *later]]
    assert all(d.attempts == 0 and d.attempt_log == [] for d in claim.deliveries)
    first = claim.events[events[0].id]
    assert (first.event_type, first.tenant_id, first.details) == ("delivered", tenant.id, {"n": 1})
    assert first.occurred_at == events[0].occurred_at
    assert first.occurred_at.tzinfo is not None


async def test_a_claimed_delivery_whose_event_is_gone_comes_without_its_event(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    endpoint = await add_endpoint(sessions, tenant.id, "https://hooks.example.test/a")
    kept, gone = await emit(sessions, tenant.id, EventType.DELIVERED, EventType.OPEN)
    async with sessions() as session:
        await session.exec(delete(MessageEvent).where(col(MessageEvent.id) == gone.id))  # type: ignore[call-overload]
        await session.commit()
    claim = await claim_due(sessions, endpoint.row.id, limit=10, claim_id="whb_test_orphan")
    assert claim is not None
    assert [d.event_id for d in claim.deliveries] == [kept.id, gone.id]
    assert list(claim.events) == [kept.id]
