"""Webhook endpoints and their delivery log as the API reads and edits them; every query filters
by tenant. The worker's claims and outcomes are in webhook_deliveries.py."""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlmodel import and_, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    EndpointKind,
    MessageEvent,
    WebhookDelivery,
    WebhookEndpoint,
)


def _active(is_active: bool) -> object:
    """Enabled and not auto-disabled, or its negation."""
    active = and_(
        col(WebhookEndpoint.enabled).is_(True), col(WebhookEndpoint.disabled_at).is_(None)
    )
    return active if is_active else ~active


async def list_endpoints(
    session: AsyncSession,
    tenant_id: str,
    *,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookEndpoint], int]:
    where = [
        col(WebhookEndpoint.tenant_id) == tenant_id,
        col(WebhookEndpoint.kind) == EndpointKind.SCAISEND,
    ]
    if is_active is not None:
        where.append(_active(is_active))  # type: ignore[arg-type]
    total = (
        await session.exec(select(func.count()).select_from(WebhookEndpoint).where(*where))
    ).one()
    statement = (
        select(WebhookEndpoint)
        .where(*where)
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        .limit(limit)
        .offset(offset)
    )
    return list((await session.exec(statement)).all()), int(total)


async def get_endpoint(
    session: AsyncSession, tenant_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """A ScaiSend endpoint of the tenant (the Event Webhook row is not addressable by id)."""
    statement = select(WebhookEndpoint).where(
        col(WebhookEndpoint.tenant_id) == tenant_id,
        col(WebhookEndpoint.id) == endpoint_id,
        col(WebhookEndpoint.kind) == EndpointKind.SCAISEND,
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def get_event_webhook(
    session: AsyncSession, tenant_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """The tenant's SendGrid Event Webhook settings row, if it was ever configured."""
    statement = (
        select(WebhookEndpoint)
        .where(
            col(WebhookEndpoint.tenant_id) == tenant_id,
            col(WebhookEndpoint.kind) == EndpointKind.SENDGRID,
        )
        .order_by(col(WebhookEndpoint.created_at))
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery records (docs: past deliveries are removed too)."""
    await session.exec(
        delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)  # type: ignore[call-overload]
    )
    await session.delete(endpoint)


async def list_deliveries(
    session: AsyncSession,
    tenant_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[WebhookDelivery, str | None]], int]:
    """(delivery, its event type) newest first, and the total."""
    where = [
        col(WebhookDelivery.tenant_id) == tenant_id,
        col(WebhookDelivery.endpoint_id) == endpoint_id,
    ]
    if status is not None:
        where.append(col(WebhookDelivery.status) == status)
    total = (
        await session.exec(select(func.count()).select_from(WebhookDelivery).where(*where))
    ).one()
    statement = (
        select(WebhookDelivery, MessageEvent.event_type)
        .join(MessageEvent, col(MessageEvent.id) == col(WebhookDelivery.event_id), isouter=True)
        .where(*where)
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.exec(statement)).all()
    return [(row[0], row[1]) for row in rows], int(total)


async def get_delivery(
    session: AsyncSession, tenant_id: str, endpoint_id: str, delivery_id: str
) -> tuple[WebhookDelivery, str | None] | None:
    statement = (
        select(WebhookDelivery, MessageEvent.event_type)
        .join(MessageEvent, col(MessageEvent.id) == col(WebhookDelivery.event_id), isouter=True)
        .where(
            col(WebhookDelivery.tenant_id) == tenant_id,
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.id) == delivery_id,
        )
    )
    row = (await session.exec(statement)).first()
    return (row[0], row[1]) if row is not None else None
