"""Rolling `message_events` up into `daily_stats` (per tenant, UTC day and category, '' being the
all-categories row), incrementally and idempotently: a batch of events is counted and flagged
`rolled_up` in one transaction, so replaying never counts an event twice.

`requests` counts each message (one personalization) once, on the first `processed` or
`dropped` event it has; unique opens and clicks count the first open or click per message and
recipient. "First" is decided against events already rolled up, so it holds across batches."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import EventType
from scaisend_core.models import METRICS, DailyStats, EmailMessage, MessageEvent

ALL_CATEGORIES = ""
_REQUEST_EVENTS = (EventType.PROCESSED.value, EventType.DROPPED.value)
_UNIQUE = {EventType.OPEN.value: "unique_opens", EventType.CLICK.value: "unique_clicks"}
# Docs (reference-stats): "bounces" are permanent failures, hard bounces and blocks alike.
_METRICS_OF: dict[str, tuple[str, ...]] = {
    EventType.PROCESSED: ("processed",),
    EventType.DELIVERED: ("delivered",),
    EventType.DEFERRED: ("deferred",),
    EventType.BOUNCE: ("bounces",),
    EventType.BLOCKED: ("bounces", "blocks"),
    EventType.DROPPED: ("drops",),
    EventType.OPEN: ("opens",),
    EventType.CLICK: ("clicks",),
    EventType.SPAM_REPORT: ("spam_reports",),
    EventType.UNSUBSCRIBE: ("unsubscribes",),
    EventType.GROUP_UNSUBSCRIBE: ("unsubscribes",),
}
# Dropped events carry the worker's reason code.
_DROP_METRIC = {
    "suppressed_bounce": "bounce_drops",
    "suppressed_spam": "spam_report_drops",
    "suppressed_unsubscribe": "unsubscribe_drops",
    "suppressed_group_unsubscribe": "unsubscribe_drops",
    "suppressed_invalid": "invalid_emails",
}

Key = tuple[str, date, str]  # tenant, day, category


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    tenant_id: str
    message_id: str | None
    recipient: str | None
    kind: str
    occurred_at: datetime
    details: dict[str, Any]


async def roll_up(session: AsyncSession, limit: int = 5000) -> int:
    """Count up to `limit` events not yet rolled up; returns how many. The caller commits."""
    events = await _claim(session, limit)
    if not events:
        return 0
    categories = await _categories(session, {e.message_id for e in events if e.message_id})
    counts = await _count(session, events, categories)
    await _upsert(session, counts)
    await session.exec(
        update(MessageEvent)
        .where(col(MessageEvent.id).in_([e.id for e in events]))
        .values(rolled_up=True)
    )
    return len(events)


async def _claim(session: AsyncSession, limit: int) -> list[_Event]:
    """Oldest first; rows another roll-up has locked are skipped, never counted twice."""
    statement = (
        select(MessageEvent)
        .where(col(MessageEvent.rolled_up).is_(False))
        .order_by(col(MessageEvent.occurred_at), col(MessageEvent.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.exec(statement)).all()
    return [
        _Event(e.id, e.tenant_id, e.message_id, e.recipient_email, e.event_type, e.occurred_at,
               e.details)
        for e in rows
    ]  # fmt: skip


async def _categories(session: AsyncSession, message_ids: set[str]) -> dict[str, list[str]]:
    if not message_ids:
        return {}
    statement = select(EmailMessage.id, EmailMessage.categories).where(
        col(EmailMessage.id).in_(list(message_ids))
    )
    return {i: list(c or []) for i, c in (await session.exec(statement)).all()}


async def _already_counted(
    session: AsyncSession, kinds: Sequence[str], message_ids: Iterable[str]
) -> set[tuple[str, str | None]]:
    """(message, recipient) pairs with a rolled-up event of these kinds."""
    ids = list(set(message_ids))
    if not ids:
        return set()
    statement = select(MessageEvent.message_id, MessageEvent.recipient_email).where(
        col(MessageEvent.message_id).in_(ids),
        col(MessageEvent.event_type).in_(list(kinds)),
        col(MessageEvent.rolled_up).is_(True),
    )
    return {(m or "", r) for m, r in (await session.exec(statement)).all()}


async def _count(
    session: AsyncSession, events: list[_Event], categories: dict[str, list[str]]
) -> dict[Key, Counter[str]]:
    counts: dict[Key, Counter[str]] = defaultdict(Counter)
    requested = {m for m, _ in await _already_counted(session, _REQUEST_EVENTS, _ids(events))}
    seen_by_kind = {  # a rolled-up open does not make a later click non-unique
        kind: await _already_counted(session, (kind,), _ids(events)) for kind in _UNIQUE
    }
    for event in events:
        names = list(_metrics(event))
        if event.kind in _REQUEST_EVENTS and event.message_id not in requested:
            requested.add(event.message_id or "")
            names.append("requests")
        if event.kind in _UNIQUE and event.message_id:
            pair = (event.message_id, event.recipient)
            if pair not in seen_by_kind[event.kind]:
                seen_by_kind[event.kind].add(pair)
                names.append(_UNIQUE[event.kind])
        day = event.occurred_at.date()
        for category in (ALL_CATEGORIES, *categories.get(event.message_id or "", [])):
            counts[(event.tenant_id, day, category[:255])].update(names)
    return counts


def _ids(events: list[_Event]) -> list[str]:
    return [e.message_id for e in events if e.message_id]


def _metrics(event: _Event) -> tuple[str, ...]:
    names = _METRICS_OF.get(event.kind, ())
    drop = (
        _DROP_METRIC.get(str(event.details.get("reason", ""))) if event.kind == "dropped" else None
    )
    return (*names, drop) if drop else names


async def _upsert(session: AsyncSession, counts: dict[Key, Counter[str]]) -> None:
    rows = [
        {"tenant_id": t, "day": d, "category": c, **{m: n.get(m, 0) for m in METRICS}}
        for (t, d, c), n in counts.items()
    ]
    table = DailyStats.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "sqlite":
        lite = sqlite_insert(table).values(rows)
        statement: Any = lite.on_conflict_do_update(
            index_elements=["tenant_id", "day", "category"],
            set_={m: table.c[m] + lite.excluded[m] for m in METRICS},
        )
    else:
        mysql = mysql_insert(table).values(rows)
        statement = mysql.on_duplicate_key_update(
            {m: table.c[m] + mysql.inserted[m] for m in METRICS}
        )
    await session.exec(statement)
