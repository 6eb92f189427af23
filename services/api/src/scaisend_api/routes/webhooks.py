"""/v3/user/webhooks: ScaiSend webhook endpoints (CRUD, secret rotation, delivery log and
redeliver) and SendGrid's Event Webhook settings (`/event/settings`, `/event/settings/signed`,
`/event/test`). Reads need webhooks.read, everything else webhooks.write; creating endpoints is
limited to 10 a minute per tenant (ratelimit.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import SessionDep, StateDep, UowDep, permission
from scaisend_api.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    EventWebhookSettings,
    EventWebhookTest,
    EventWebhookUpdate,
    SignedSettingsOut,
    SignedSettingsUpdate,
    SigningSecretOut,
)
from scaisend_api.services import event_webhook
from scaisend_api.services import webhooks as service
from scaisend_core.models import utcnow

router = APIRouter(prefix="/v3/user/webhooks", tags=["webhooks"])

Reader = Annotated[Principal, permission("webhooks.read")]
Writer = Annotated[Principal, permission("webhooks.write")]
Page = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=100)]


@router.get("/event/settings", response_model=EventWebhookSettings)
async def get_event_settings(principal: Reader, session: SessionDep) -> EventWebhookSettings:
    return await event_webhook.get_settings(session, principal.tenant_id)


@router.patch("/event/settings", response_model=EventWebhookSettings)
async def update_event_settings(
    body: EventWebhookUpdate, principal: Writer, session: SessionDep, state: StateDep
) -> EventWebhookSettings:
    return await event_webhook.update_settings(
        session, state.secrets, state.settings, principal.tenant_id, body
    )


@router.get("/event/settings/signed", response_model=SignedSettingsOut)
async def get_signed_settings(principal: Reader, session: SessionDep) -> SignedSettingsOut:
    return await event_webhook.get_signed(session, principal.tenant_id)


@router.patch("/event/settings/signed", response_model=SignedSettingsOut)
async def update_signed_settings(
    body: SignedSettingsUpdate, principal: Writer, session: SessionDep, state: StateDep
) -> SignedSettingsOut:
    """`{"enabled": true}` returns the ECDSA P-256 public key that verifies every POST."""
    return await event_webhook.update_signed(
        session, state.secrets, principal.tenant_id, body.enabled
    )


@router.post("/event/test", status_code=204, response_class=Response)
async def test_event_webhook(
    body: EventWebhookTest, principal: Writer, session: SessionDep, state: StateDep
) -> Response:
    """POST one sample event of each type to `url` now; 204 when it answered 2xx."""
    await event_webhook.send_test(
        session, state.secrets, state.settings, principal.tenant_id, body, utcnow()
    )
    return Response(status_code=204)


@router.get("", response_model=EndpointList)
async def list_webhooks(
    principal: Reader,
    session: SessionDep,
    page: Page = 1,
    page_size: PageSize = 20,
    is_active: bool | None = None,
) -> EndpointList:
    return await service.list_endpoints(
        session, principal.tenant_id, page=page, page_size=page_size, is_active=is_active
    )


@router.post("", status_code=201, response_model=EndpointCreated)
async def create_webhook(
    body: EndpointCreate, principal: Writer, session: SessionDep, state: StateDep
) -> EndpointCreated:
    """The response is the only time `signing_secret` is shown."""
    return await service.create_endpoint(
        session, state.secrets, state.settings, principal.tenant_id, body
    )


@router.get("/{webhook_id}", response_model=EndpointOut)
async def get_webhook(webhook_id: str, principal: Reader, session: SessionDep) -> EndpointOut:
    return await service.get_endpoint(session, principal.tenant_id, webhook_id)


@router.patch("/{webhook_id}", response_model=EndpointOut)
async def update_webhook(
    webhook_id: str, body: EndpointUpdate, principal: Writer, session: SessionDep, state: StateDep
) -> EndpointOut:
    """`{"enabled": true}` re-enables an endpoint that 10 consecutive failures disabled."""
    return await service.update_endpoint(
        session, state.secrets, state.settings, principal.tenant_id, webhook_id, body
    )


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(webhook_id: str, principal: Writer, session: SessionDep) -> Response:
    """Deletes the endpoint and its delivery records."""
    await service.delete_endpoint(session, principal.tenant_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/signing_secret", response_model=SigningSecretOut)
async def rotate_signing_secret(
    webhook_id: str, principal: Writer, session: SessionDep, state: StateDep
) -> SigningSecretOut:
    """A new secret; the old one stops validating immediately."""
    return await service.rotate_secret(session, state.secrets, principal.tenant_id, webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    principal: Reader,
    session: SessionDep,
    page: Page = 1,
    page_size: PageSize = 20,
    status: Literal["pending", "succeeded", "failed"] | None = None,
) -> DeliveryList:
    """Newest first, with every attempt's status code, response snippet and error."""
    return await service.list_deliveries(
        session, principal.tenant_id, webhook_id, page=page, page_size=page_size, status=status
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut
)
async def redeliver(
    webhook_id: str, delivery_id: str, principal: Writer, uow: UowDep
) -> DeliveryOut:
    return await service.redeliver(uow, principal.tenant_id, webhook_id, delivery_id, utcnow())
