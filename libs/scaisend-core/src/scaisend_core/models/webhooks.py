"""Webhook endpoints (ScaiSend endpoints and the SendGrid Event Webhook) and delivery rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    datetime_field,
    id_field,
    json_field,
    tenant_fk,
    text_field,
    updated_at_field,
)


class EndpointKind(StrEnum):
    SCAISEND = "scaisend"  # one envelope per POST, Standard Webhooks signature
    SENDGRID = "sendgrid"  # SendGrid Event Webhook: batched arrays, ECDSA signature


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.Index("ix_webhook_endpoints_tenant_kind", "tenant_id", "kind"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    kind: str = Field(default=EndpointKind.SCAISEND, max_length=10)
    url: str = Field(max_length=2048)
    friendly_name: str | None = Field(default=None, max_length=255)
    enabled_events: list[str] = json_field(list)
    enabled: bool = True
    signing_secret: str | None = text_field()
    signed: bool = False
    ecdsa_private_key: str | None = text_field()
    ecdsa_public_key: str | None = text_field()
    oauth_client_id: str | None = Field(default=None, max_length=255)
    oauth_client_secret: str | None = text_field()
    oauth_token_url: str | None = Field(default=None, max_length=2048)
    failure_count: int = 0
    last_success_at: datetime | None = datetime_field()
    last_failure_at: datetime | None = datetime_field()
    disabled_at: datetime | None = datetime_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class WebhookDelivery(SQLModel, table=True):
    """One row per (event, subscribed endpoint). SendGrid endpoints group rows by `batch_id`."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_tenant_endpoint", "tenant_id", "endpoint_id", "created_at"),
        sa.Index("ix_webhook_deliveries_batch", "batch_id"),
        # A delivery lane claims the due rows of one endpoint, oldest first.
        sa.Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=40, ondelete="CASCADE")
    event_id: str = Field(max_length=40, index=True)
    batch_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime | None = datetime_field()
    last_status_code: int | None = None
    last_response: str | None = text_field()
    last_error: str | None = text_field()
    attempt_log: list[dict[str, object]] = json_field(list)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    delivered_at: datetime | None = datetime_field()
