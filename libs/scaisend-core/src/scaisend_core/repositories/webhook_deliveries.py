"""Claiming due webhook deliveries and recording their attempts (the worker's side).

A claim leases rows: their next_attempt_at moves past the request's deadline inside the claiming
transaction (SKIP LOCKED, so concurrent workers take different rows). A worker that dies
mid-request leaves its rows pending, and they become due again when the lease ends; the
reconciler then finds them. Times are passed in, never read from the database clock, so tests
can move time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, case, exists, literal, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlmodel import and_, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import SendGridContext
from scaisend_core.models import (
    DeliveryStatus,
    EmailMessage,
    MessageEvent,
    WebhookDelivery,
    WebhookEndpoint,
)

_deliveries = WebhookDelivery.__table__  # type: ignore[attr-defined]
_events_table = MessageEvent.__table__  # type: ignore[attr-defined]
CLAIM_INDEX = "ix_webhook_deliveries_endpoint_due"


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """What sending a claimed delivery and recording its attempt need of the row. Plain rows,
    not ORM objects: loading those cost about 0.1 ms of CPU per delivery."""

    id: str
    event_id: str
    attempts: int
    attempt_log: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """The event row a webhook body is made from (read-only, see ClaimedDelivery)."""

    id: str
    tenant_id: str
    message_id: str | None
    recipient_email: str | None
    event_type: str
    occurred_at: datetime
    details: dict[str, Any]


@dataclass(slots=True)
class Claim:
    """Leased deliveries of one endpoint, with the event rows (and message facts) they need."""

    endpoint: WebhookEndpoint
    deliveries: list[ClaimedDelivery]
    events: dict[str, ClaimedEvent] = field(default_factory=dict)
    contexts: dict[str, SendGridContext] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """The new state of one delivery after an attempt."""

    delivery_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    status_code: int | None
    response: str | None
    error: str | None
    attempt_log: list[dict[str, Any]]
    delivered_at: datetime | None


def is_lock_conflict(exc: BaseException) -> bool:
    """A deadlock or lock wait timeout: the transaction was rolled back and may simply be run
    again (MySQL 1213, 1205)."""
    orig = getattr(exc, "orig", None)
    args: tuple[object, ...] = getattr(orig, "args", ())
    return isinstance(exc, OperationalError) and bool(args) and args[0] in (1205, 1213)


async def begin_read_committed(session: AsyncSession) -> None:
    """Claims and outcomes run concurrently on one endpoint's rows; under REPEATABLE READ the
    claim's range scan takes gap locks that outcome updates then deadlock on. READ COMMITTED
    locks only the rows themselves (SKIP LOCKED still works). Call before the first statement.
    SET TRANSACTION applies to this transaction only: one statement, where the connection's
    isolation_level option costs one to set the session and one to reset it at check-in."""
    if session.bind is not None and session.bind.dialect.name in ("mysql", "mariadb"):
        await (await session.connection()).execute(_READ_COMMITTED)


_READ_COMMITTED = text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")


def _deliverable() -> Any:
    return and_(col(WebhookEndpoint.enabled).is_(True), col(WebhookEndpoint.disabled_at).is_(None))


def _due(now: datetime) -> Any:
    return and_(
        col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        col(WebhookDelivery.next_attempt_at) <= now,
    )


async def due_endpoints(session: AsyncSession, now: datetime) -> list[tuple[str, str]]:
    """(id, kind) of every deliverable endpoint with at least one due delivery."""
    has_due = exists().where(col(WebhookDelivery.endpoint_id) == col(WebhookEndpoint.id), _due(now))
    statement = select(WebhookEndpoint.id, WebhookEndpoint.kind).where(_deliverable(), has_due)
    return [(row[0], row[1]) for row in (await session.exec(statement)).all()]


async def endpoint_of(session: AsyncSession, delivery_id: str) -> tuple[str, str] | None:
    """(endpoint id, kind) of a pending delivery; None when it is finished or gone."""
    statement = (
        select(WebhookEndpoint.id, WebhookEndpoint.kind)
        .join(WebhookDelivery, col(WebhookDelivery.endpoint_id) == col(WebhookEndpoint.id))
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
    )
    row = (await session.exec(statement)).first()
    return (row[0], row[1]) if row is not None else None


async def claim(
    session: AsyncSession,
    endpoint_id: str,
    *,
    now: datetime,
    lease_until: datetime | Callable[[int], datetime],
    limit: int,
    claim_id: str,
    with_contexts: bool = False,
) -> Claim | None:
    """Lease up to `limit` due deliveries of a deliverable endpoint, oldest first, stamping them
    with `claim_id` (their batch id); None when the endpoint is gone, paused or auto-disabled.
    `lease_until` may depend on how many candidates were found (a lane that queues them needs
    a longer lease for more). Commit to make the lease visible.

    No locking read: a locking range scan also locks the row just past the range, which makes
    a concurrent claim of the neighbouring endpoint skip (or wait for) it. Candidates are read
    from a snapshot, and the guarded UPDATE decides which ones this claim won."""
    await begin_read_committed(session)
    endpoint = (
        await session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id, _deliverable())
        )
    ).first()
    if endpoint is None:
        return None
    connection = await session.connection()
    candidates = {"endpoint_id": endpoint_id, "now": now, "limit": limit}
    found = await connection.execute(_CANDIDATES, candidates)
    due_at: dict[str, datetime] = {row[0]: row[1] for row in found}
    result = Claim(endpoint, [])
    if not due_at:
        return result
    ids = list(due_at)
    until = lease_until(len(ids)) if callable(lease_until) else lease_until
    await connection.execute(_LEASE, {"ids": ids, "now": now, "until": until, "claim_id": claim_id})
    # Oldest first: by due time, then by creation (rows recorded together share a due time,
    # and their ULIDs are random within a millisecond).
    won = sorted(
        (await connection.execute(_WON, {"claim_id": claim_id})).all(),
        key=lambda row: (due_at[row[0]], row[4], row[0]),
    )
    result.deliveries = [ClaimedDelivery(row[0], row[1], row[2], row[3]) for row in won]
    result.events = {
        row[5]: ClaimedEvent(row[5], row[6], row[7], row[8], row[9], row[10], row[11])
        for row in won
        if row[5] is not None
    }
    if with_contexts:
        message_ids = {e.message_id for e in result.events.values() if e.message_id}
        result.contexts = await _contexts(session, message_ids)
    return result


# The claim's statements, built once: building them per claim cost more than running them.
_CANDIDATES = (
    sa_select(_deliveries.c.id, _deliveries.c.next_attempt_at)
    .with_hint(_deliveries, f"FORCE INDEX ({CLAIM_INDEX})", "mysql")
    .where(
        _deliveries.c.endpoint_id == bindparam("endpoint_id"),
        _deliveries.c.status == DeliveryStatus.PENDING,
        _deliveries.c.next_attempt_at <= bindparam("now", type_=_deliveries.c.next_attempt_at.type),
    )
    .order_by(_deliveries.c.next_attempt_at)
    .limit(bindparam("limit", type_=Integer, literal_execute=True))
)
_LEASE = (
    update(_deliveries)
    .where(
        _deliveries.c.id.in_(bindparam("ids", expanding=True)),
        _deliveries.c.status == DeliveryStatus.PENDING,
        _deliveries.c.next_attempt_at <= bindparam("now", type_=_deliveries.c.next_attempt_at.type),
    )
    .values(
        next_attempt_at=bindparam("until", type_=_deliveries.c.next_attempt_at.type),
        batch_id=bindparam("claim_id"),
    )
)
# The won rows with their events in one round trip (an event deleted meanwhile: NULLs).
_WON = (
    sa_select(
        _deliveries.c.id,
        _deliveries.c.event_id,
        _deliveries.c.attempts,
        _deliveries.c.attempt_log,
        _deliveries.c.created_at,
        _events_table.c.id,
        _events_table.c.tenant_id,
        _events_table.c.message_id,
        _events_table.c.recipient_email,
        _events_table.c.event_type,
        _events_table.c.occurred_at,
        _events_table.c.details,
    )
    .select_from(_deliveries.outerjoin(_events_table, _events_table.c.id == _deliveries.c.event_id))
    .where(_deliveries.c.batch_id == bindparam("claim_id"))
)


async def _contexts(session: AsyncSession, message_ids: set[str]) -> dict[str, SendGridContext]:
    """What SendGrid-shaped events repeat from their message; only those columns are read."""
    if not message_ids:
        return {}
    statement = sa_select(
        col(EmailMessage.id),
        col(EmailMessage.categories),
        col(EmailMessage.custom_args),
        col(EmailMessage.asm_group_id),
        col(EmailMessage.message_id_header),
    ).where(col(EmailMessage.id).in_(message_ids))
    return {
        row[0]: SendGridContext(
            categories=row[1] or [], custom_args=row[2] or {}, asm_group_id=row[3], smtp_id=row[4]
        )
        for row in (await (await session.connection()).execute(statement)).all()
    }


# Columns an attempt writes, and the AttemptRecord field each comes from.
_ATTEMPT_COLUMNS = (
    ("status", "status"),
    ("attempts", "attempts"),
    ("next_attempt_at", "next_attempt_at"),
    ("last_status_code", "status_code"),
    ("last_response", "response"),
    ("last_error", "error"),
    ("attempt_log", "attempt_log"),
    ("delivered_at", "delivered_at"),
)
RECORDS_PER_STATEMENT = 128


async def record_attempts(session: AsyncSession, records: list[AttemptRecord]) -> None:
    """Write each delivery's new state; rows that were deleted meanwhile are skipped.

    One UPDATE per RECORDS_PER_STATEMENT rows (each column a CASE on the id): the driver runs
    an executemany of UPDATEs as one statement per row, a round trip each, and a SendGrid
    batch is a thousand rows. Building such a statement costs far more than running it, so
    one is built per power-of-two size and reused; a short chunk repeats its last row."""
    connection = await session.connection()
    for start in range(0, len(records), RECORDS_PER_STATEMENT):
        chunk = records[start : start + RECORDS_PER_STATEMENT]
        size = 1 << (len(chunk) - 1).bit_length()
        chunk += [chunk[-1]] * (size - len(chunk))
        params = {f"r{i}_{name}": getattr(r, name) for i, r in enumerate(chunk) for name in _FIELDS}
        await connection.execute(_attempts_update(size), params)


_FIELDS = ("delivery_id", *(source for _, source in _ATTEMPT_COLUMNS))


@lru_cache(maxsize=16)
def _attempts_update(size: int) -> Any:
    """UPDATE … SET <column> = CASE WHEN id = :r<i>_delivery_id THEN :r<i>_<field> … END, … for
    `size` rows, typed as the columns (JSON, dates); only rows still pending change."""
    ids = [bindparam(f"r{i}_delivery_id", type_=_deliveries.c.id.type) for i in range(size)]
    values = {}
    for column, source in _ATTEMPT_COLUMNS:
        target = _deliveries.c[column]
        whens = [
            (_deliveries.c.id == ids[i], bindparam(f"r{i}_{source}", type_=target.type))
            for i in range(size)
        ]
        values[column] = case(*whens, else_=target)
    return (
        update(_deliveries)
        .where(_deliveries.c.id.in_(ids), _deliveries.c.status == DeliveryStatus.PENDING)
        .values(**values)
    )


async def release(session: AsyncSession, delivery_ids: list[str], now: datetime) -> None:
    """End the lease of claimed rows that were not attempted: due again at `now`."""
    await begin_read_committed(session)
    await session.exec(
        update(WebhookDelivery)  # type: ignore[call-overload]
        .where(
            col(WebhookDelivery.id).in_(delivery_ids),
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(next_attempt_at=now)
    )


async def endpoint_succeeded(
    session: AsyncSession,
    endpoint_id: str,
    now: datetime,
    failures_after: int = 0,
    disable_after: int = 10,
) -> None:
    """A success resets the consecutive-failure count; `failures_after` are the failures that
    came after it in the same group of outcomes."""
    disabled = col(WebhookEndpoint.disabled_at)
    values: dict[Any, Any] = {
        disabled: case(
            (and_(literal(failures_after) >= disable_after, disabled.is_(None)), now),
            else_=disabled,
        ),
        col(WebhookEndpoint.failure_count): failures_after,
        col(WebhookEndpoint.last_success_at): now,
    }
    if failures_after:
        values[col(WebhookEndpoint.last_failure_at)] = now
    await session.exec(
        update(WebhookEndpoint)  # type: ignore[call-overload]
        .where(col(WebhookEndpoint.id) == endpoint_id)
        .ordered_values(*values.items())
    )


async def endpoint_failed(
    session: AsyncSession, endpoint_id: str, now: datetime, disable_after: int, count: int = 1
) -> None:
    """Count `count` more consecutive failures; reaching `disable_after` sets disabled_at.
    `enabled` is left alone, as the docs' example shows."""
    failures = col(WebhookEndpoint.failure_count)
    disabled = col(WebhookEndpoint.disabled_at)
    # disabled_at first: MySQL evaluates SET left to right with already-updated values.
    await session.exec(
        update(WebhookEndpoint)  # type: ignore[call-overload]
        .where(col(WebhookEndpoint.id) == endpoint_id)
        .ordered_values(
            (
                disabled,
                case(
                    (and_(failures + count >= disable_after, disabled.is_(None)), now),
                    else_=disabled,
                ),
            ),
            (failures, failures + count),
            (col(WebhookEndpoint.last_failure_at), now),
        )
    )
