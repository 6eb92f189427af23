"""Bookkeeping tables: ScaiKey webhook idempotency and the API's Idempotency-Key replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import created_at_field, id_field, json_field, tenant_fk
from scaisend_core.models.types import UTCDateTime


class ProcessedWebhookEvent(SQLModel, table=True):
    __tablename__ = "processed_webhook_events"

    id: str = Field(primary_key=True, max_length=128)
    event_type: str = Field(max_length=100)
    processed_at: datetime = created_at_field()


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "key", name="uq_idempotency_tenant_key"),
        sa.Index("ix_idempotency_expires", "expires_at"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int
    response_body: dict[str, Any] = json_field()
    response_headers: dict[str, str] = json_field()
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
