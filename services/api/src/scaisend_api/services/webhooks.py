"""ScaiSend webhook endpoints: create (the whsec_ signing secret returned once, stored encrypted),
list, read, update (re-enabling clears an auto-disable), delete with its delivery records, rotate
the secret (the old one stops at once), and the delivery log with manual redeliver. URLs pass the
SSRF guard whenever they are saved."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.deps import UnitOfWork
from scaisend_api.schemas.webhooks import (
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    SigningSecretOut,
)
from scaisend_core.config import CoreSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.dns import open_resolver
from scaisend_core.errors import InvalidState, NotFound, ValidationFailed
from scaisend_core.events import ALL_EVENT_TYPES
from scaisend_core.ids import new_id
from scaisend_core.models import DeliveryStatus, EndpointKind, WebhookDelivery, WebhookEndpoint
from scaisend_core.queue import DeliverWebhook
from scaisend_core.repositories import webhooks as repo
from scaisend_core.webhook_signing import new_signing_secret, secret_context
from scaisend_core.webhook_urls import UnsafeWebhookUrl, UrlGuard, UrlPolicy

ALL_EVENTS = "*"


async def check_url(settings: CoreSettings, url: str, field: str = "url") -> str:
    """The URL, stripped, if webhooks may be sent to it; else a 400 naming the reason."""
    url = url.strip()
    async with open_resolver(settings) as resolver:
        guard = UrlGuard.for_resolver(UrlPolicy.from_settings(settings), resolver)
        try:
            await guard.check(url)
        except UnsafeWebhookUrl as exc:
            raise ValidationFailed.single(f"Invalid {field}: {exc.reason}", field) from None
    return url


def normalise_events(events: list[str]) -> list[str]:
    """Known event types without duplicates, or ["*"] on its own."""
    if ALL_EVENTS in events:
        if len(set(events)) > 1:
            raise ValidationFailed.single(
                '"*" subscribes to every event; use it alone', "enabled_events"
            )
        return [ALL_EVENTS]
    unknown = sorted(set(events) - set(ALL_EVENT_TYPES))
    if unknown:
        raise ValidationFailed.single(
            f"Unknown event type(s): {', '.join(unknown)}; valid: {', '.join(ALL_EVENT_TYPES)}",
            "enabled_events",
        )
    return list(dict.fromkeys(events))


async def apply_oauth(
    endpoint: WebhookEndpoint,
    secrets: SecretBox,
    settings: CoreSettings,
    client_id: str | None,
    client_secret: str | None,
    token_url: str | None,
) -> None:
    """OAuth2 client credentials: all three together; None leaves a field as it is, and an
    empty client id removes OAuth."""
    if client_id is None and client_secret is None and token_url is None:
        return
    if client_id == "":
        endpoint.oauth_client_id = endpoint.oauth_client_secret = endpoint.oauth_token_url = None
        return
    new_id_ = client_id if client_id is not None else endpoint.oauth_client_id
    new_url = token_url if token_url is not None else endpoint.oauth_token_url
    if not new_id_ or not new_url or not (client_secret or endpoint.oauth_client_secret):
        raise ValidationFailed.single(
            "oauth_client_id, oauth_client_secret and oauth_token_url are required together",
            "oauth_client_id",
        )
    endpoint.oauth_client_id = new_id_
    endpoint.oauth_token_url = await check_url(settings, new_url, "oauth_token_url")
    if client_secret:
        context = secret_context(endpoint.id, "oauth_client_secret")
        endpoint.oauth_client_secret = secrets.encrypt(client_secret, context=context)


def present(row: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=row.id,
        url=row.url,
        enabled_events=row.enabled_events,
        enabled=row.enabled,
        created_at=row.created_at,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
        failure_count=row.failure_count,
        disabled_at=row.disabled_at,
        oauth_client_id=row.oauth_client_id,
        oauth_token_url=row.oauth_token_url,
    )


def _new_secret(secrets: SecretBox, row: WebhookEndpoint) -> str:
    secret = new_signing_secret()
    row.signing_secret = secrets.encrypt(secret, context=secret_context(row.id, "signing_secret"))
    return secret


async def create_endpoint(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    body: EndpointCreate,
) -> EndpointCreated:
    row = WebhookEndpoint(
        id=new_id("wh"),
        tenant_id=tenant_id,
        kind=EndpointKind.SCAISEND,
        url=await check_url(settings, body.url),
        enabled_events=normalise_events(body.enabled_events),
    )
    await apply_oauth(
        row, secrets, settings, body.oauth_client_id, body.oauth_client_secret, body.oauth_token_url
    )
    secret = _new_secret(secrets, row)
    session.add(row)
    await session.commit()
    return EndpointCreated(**present(row).model_dump(), signing_secret=secret)


async def list_endpoints(
    session: AsyncSession, tenant_id: str, *, page: int, page_size: int, is_active: bool | None
) -> EndpointList:
    rows, total = await repo.list_endpoints(
        session, tenant_id, is_active=is_active, limit=page_size, offset=(page - 1) * page_size
    )
    return EndpointList(webhooks=[present(r) for r in rows], total=total)


async def _endpoint(
    session: AsyncSession, tenant_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    row = await repo.get_endpoint(session, tenant_id, endpoint_id, for_update=for_update)
    if row is None:
        raise NotFound("Webhook not found")
    return row


async def get_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> EndpointOut:
    return present(await _endpoint(session, tenant_id, endpoint_id))


async def update_endpoint(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    endpoint_id: str,
    body: EndpointUpdate,
) -> EndpointOut:
    row = await _endpoint(session, tenant_id, endpoint_id, for_update=True)
    if body.url is not None:
        row.url = await check_url(settings, body.url)
    if body.enabled_events is not None:
        row.enabled_events = normalise_events(body.enabled_events)
    if body.enabled is not None:
        row.enabled = body.enabled
        if body.enabled:  # re-enabling after an auto-disable starts the count afresh
            row.disabled_at, row.failure_count = None, 0
    await apply_oauth(
        row, secrets, settings, body.oauth_client_id, body.oauth_client_secret, body.oauth_token_url
    )
    session.add(row)
    await session.commit()
    return present(row)


async def delete_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> None:
    row = await _endpoint(session, tenant_id, endpoint_id, for_update=True)
    await repo.delete_endpoint(session, row)
    await session.commit()


async def rotate_secret(
    session: AsyncSession, secrets: SecretBox, tenant_id: str, endpoint_id: str
) -> SigningSecretOut:
    """A new secret signs every request from the next claim on; the old one stops at once."""
    row = await _endpoint(session, tenant_id, endpoint_id, for_update=True)
    secret = _new_secret(secrets, row)
    session.add(row)
    await session.commit()
    return SigningSecretOut(signing_secret=secret)


def present_delivery(row: WebhookDelivery, event_type: str | None) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event_type=event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == DeliveryStatus.PENDING else None,
        last_status_code=row.last_status_code,
        last_response=row.last_response,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempt_log=[AttemptOut.model_validate(entry) for entry in row.attempt_log],
    )


async def list_deliveries(
    session: AsyncSession,
    tenant_id: str,
    endpoint_id: str,
    *,
    page: int,
    page_size: int,
    status: str | None,
) -> DeliveryList:
    await _endpoint(session, tenant_id, endpoint_id)
    rows, total = await repo.list_deliveries(
        session,
        tenant_id,
        endpoint_id,
        status=status,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return DeliveryList(deliveries=[present_delivery(*r) for r in rows], total=total)


async def redeliver(
    uow: UnitOfWork, tenant_id: str, endpoint_id: str, delivery_id: str, now: datetime
) -> DeliveryOut:
    """Send a delivery again now, whatever its state: one more attempt for a finished one, the
    next attempt brought forward for a pending one."""
    endpoint = await _endpoint(uow.session, tenant_id, endpoint_id)
    if not endpoint.enabled or endpoint.disabled_at is not None:
        raise InvalidState("The webhook is paused or disabled; enable it first", "disabled")
    found = await repo.get_delivery(uow.session, tenant_id, endpoint_id, delivery_id)
    if found is None:
        raise NotFound("Delivery not found")
    delivery, event_type = found
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now
    uow.session.add(delivery)
    job = DeliverWebhook(
        delivery_id=delivery.id, attempt=delivery.attempts, endpoint_id=endpoint.id
    )
    uow.enqueue(job)
    await uow.commit()
    return present_delivery(delivery, event_type)
