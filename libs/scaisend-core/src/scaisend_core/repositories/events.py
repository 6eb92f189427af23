"""Recording events: the timeline row and its webhook deliveries in the same transaction, so an
event is never emitted without its deliveries, nor a delivery without its event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.events import EventType
from scaisend_core.ids import new_id
from scaisend_core.metrics import MESSAGE_EVENTS
from scaisend_core.models import (
    DeliveryStatus,
    EndpointKind,
    MessageEvent,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from scaisend_core.queue import DeliverWebhook, JobBuffer

# SendGrid's settings object has no `blocked` switch: a block is a bounce of type "blocked".
_SENDGRID_SETTING_FOR = {EventType.BLOCKED: EventType.BOUNCE.value}


@dataclass(frozen=True, slots=True)
class NewEvent:
    tenant_id: str
    event_type: EventType
    message_id: str | None
    recipient_email: str | None
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


def subscribes(endpoint: WebhookEndpoint, event_type: EventType) -> bool:
    if not endpoint.enabled or endpoint.disabled_at is not None:
        return False
    return _wants(endpoint.kind, endpoint.enabled_events, event_type)


def _wants(kind: str, enabled_events: Sequence[str], event_type: EventType) -> bool:
    events = set(enabled_events)
    if kind == EndpointKind.SENDGRID:
        return _SENDGRID_SETTING_FOR.get(event_type, event_type.value) in events
    return "*" in events or event_type.value in events


async def _endpoints(session: AsyncSession, tenant_ids: set[str]) -> list[WebhookEndpoint]:
    statement = select(WebhookEndpoint).where(
        col(WebhookEndpoint.tenant_id).in_(tenant_ids),
        col(WebhookEndpoint.enabled).is_(True),
        col(WebhookEndpoint.disabled_at).is_(None),
    )
    return list((await session.exec(statement)).all())


async def record_events(
    session: AsyncSession, events: Sequence[NewEvent], jobs: JobBuffer | None = None
) -> list[MessageEvent]:
    """Add event rows plus one pending delivery per subscribed endpoint. Each ScaiSend endpoint
    that got deliveries gets one delivery job (after commit, through `jobs`): the job wakes the
    endpoint's lane, which claims every due delivery, so one job per delivery would only add
    queue traffic. SendGrid endpoints are batched by the worker's every-second tick."""
    if not events:
        return []
    endpoints = await _endpoints(session, {e.tenant_id for e in events})
    now = utcnow()
    rows = []
    woken: set[str] = set()
    for new in events:
        row = MessageEvent(
            id=new_id("evt"),
            tenant_id=new.tenant_id,
            message_id=new.message_id,
            recipient_email=new.recipient_email,
            event_type=new.event_type.value,
            occurred_at=new.occurred_at or now,
            details=new.details,
        )
        session.add(row)
        rows.append(row)
        for endpoint in endpoints:
            if endpoint.tenant_id == new.tenant_id and subscribes(endpoint, new.event_type):
                _add_delivery(session, endpoint, row, now, jobs, woken)
    await session.flush()
    for row in rows:  # counted at flush: a rolled-back event is rare and retried anyway
        MESSAGE_EVENTS.labels(row.event_type, row.tenant_id).inc()
    return rows


def _add_delivery(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    event: MessageEvent,
    now: datetime,
    jobs: JobBuffer | None,
    woken: set[str],
) -> None:
    delivery = WebhookDelivery(
        id=new_id("whd"),
        tenant_id=event.tenant_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
    )
    session.add(delivery)
    if jobs is not None and endpoint.kind == EndpointKind.SCAISEND and endpoint.id not in woken:
        woken.add(endpoint.id)
        jobs.add(DeliverWebhook(delivery_id=delivery.id, endpoint_id=endpoint.id))


async def record_event(
    session: AsyncSession, event: NewEvent, jobs: JobBuffer | None = None
) -> MessageEvent:
    return (await record_events(session, [event], jobs))[0]


# --- the same through Core, for callers that write many events at once (the worker) ---------

_EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
_ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]
# Built once: enabled endpoints of some tenants (an `expanding` IN keeps one compiled form).
_LIVE_ENDPOINTS = sa_select(
    _ENDPOINTS.c.id, _ENDPOINTS.c.tenant_id, _ENDPOINTS.c.kind, _ENDPOINTS.c.enabled_events
).where(
    _ENDPOINTS.c.tenant_id.in_(bindparam("tenant_ids", expanding=True)),
    _ENDPOINTS.c.enabled.is_(True),
    _ENDPOINTS.c.disabled_at.is_(None),
)
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_DELIVERIES = insert(_DELIVERIES)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    id: str
    tenant_id: str
    kind: str
    enabled_events: list[str]


async def insert_events(
    conn: AsyncConnection, events: Sequence[NewEvent], jobs: JobBuffer | None = None
) -> list[str]:
    """`record_events` on a Core connection: the same rows, deliveries and jobs, but one
    multi-row INSERT per table and no ORM objects (what a session flush of hundreds of events
    costs is most of writing them). Returns the event ids, in order."""
    if not events:
        return []
    tenant_ids = sorted({e.tenant_id for e in events})
    found = await conn.execute(_LIVE_ENDPOINTS, {"tenant_ids": tenant_ids})
    endpoints = [_Endpoint(r.id, r.tenant_id, r.kind, list(r.enabled_events)) for r in found]
    now = utcnow()
    rows: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    woken: set[str] = set()
    for new in events:
        event_id = new_id("evt")
        rows.append({
            "id": event_id, "tenant_id": new.tenant_id, "message_id": new.message_id,
            "recipient_email": new.recipient_email, "event_type": new.event_type.value,
            "occurred_at": new.occurred_at or now, "details": new.details, "rolled_up": False,
        })  # fmt: skip
        for endpoint in endpoints:
            if endpoint.tenant_id == new.tenant_id and _wants(
                endpoint.kind, endpoint.enabled_events, new.event_type
            ):
                deliveries.append(_delivery_row(endpoint, new.tenant_id, event_id, now))
                scaisend = endpoint.kind == EndpointKind.SCAISEND
                if jobs is not None and scaisend and endpoint.id not in woken:
                    woken.add(endpoint.id)
                    jobs.add(DeliverWebhook(delivery_id=deliveries[-1]["id"],
                                            endpoint_id=endpoint.id))  # fmt: skip
    await conn.execute(_INSERT_EVENTS, rows)
    if deliveries:
        await conn.execute(_INSERT_DELIVERIES, deliveries)
    for new in events:
        MESSAGE_EVENTS.labels(new.event_type.value, new.tenant_id).inc()
    return [row["id"] for row in rows]


def _delivery_row(
    endpoint: _Endpoint, tenant_id: str, event_id: str, now: datetime
) -> dict[str, Any]:
    """Every column, as the model's defaults would fill them (Core applies no Python defaults)."""
    return {
        "id": new_id("whd"), "tenant_id": tenant_id, "endpoint_id": endpoint.id,
        "event_id": event_id, "batch_id": None, "status": DeliveryStatus.PENDING.value,
        "attempts": 0, "next_attempt_at": now, "last_status_code": None, "last_response": None,
        "last_error": None, "attempt_log": [], "created_at": now, "updated_at": now,
        "delivered_at": None,
    }  # fmt: skip
