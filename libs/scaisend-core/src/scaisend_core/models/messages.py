"""Messages (one row per personalization), their recipients, attachments, events and batches."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    datetime_field,
    id_field,
    json_field,
    optional_json_field,
    tenant_fk,
    text_field,
    updated_at_field,
)
from scaisend_core.models.types import UTCDateTime, utcnow


class MessageStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    RENDERED = "rendered"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SANDBOX = "sandbox"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    DROPPED = "dropped"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"


class RecipientKind(StrEnum):
    TO = "to"
    CC = "cc"
    BCC = "bcc"


class EmailMessage(SQLModel, table=True):
    __tablename__ = "email_messages"
    __table_args__ = (
        sa.Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        sa.Index("ix_messages_tenant_status_created", "tenant_id", "status", "created_at"),
        sa.Index("ix_messages_tenant_batch", "tenant_id", "batch_id"),
        sa.Index("ix_messages_tenant_template", "tenant_id", "template_id"),
        sa.Index("ix_messages_tenant_from", "tenant_id", "from_email"),
        sa.Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
        sa.Index("ix_messages_status_send_at", "status", "send_at"),
        sa.Index("ix_messages_message_id_header", "message_id_header"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    api_key_id: str | None = Field(default=None, max_length=40)
    batch_id: str | None = Field(default=None, max_length=64)
    personalization_index: int = 0
    status: str = Field(default=MessageStatus.QUEUED, max_length=20)
    sandbox: bool = False
    from_email: str = Field(max_length=320)
    from_name: str | None = Field(default=None, max_length=255)
    reply_to: list[dict[str, Any]] = json_field(list)
    subject: str | None = text_field()
    template_id: str | None = Field(default=None, max_length=40)
    template_version_id: str | None = Field(default=None, max_length=40)
    content: list[dict[str, Any]] = json_field(list)
    headers: dict[str, str] = json_field()
    custom_args: dict[str, str] = json_field()
    categories: list[str] = json_field(list)
    substitutions: dict[str, str] = json_field()
    dynamic_template_data: dict[str, Any] | None = optional_json_field()
    sections: dict[str, str] = json_field()
    asm_group_id: int | None = None
    asm_groups_to_display: list[int] = json_field(list)
    ip_pool_name: str | None = Field(default=None, max_length=64)
    mail_settings: dict[str, Any] = json_field()
    tracking_settings: dict[str, Any] = json_field()
    send_at: datetime | None = datetime_field()
    message_id_header: str = Field(max_length=255)
    mime_key: str | None = Field(default=None, max_length=512)
    mime_size: int | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = datetime_field()
    error_message: str | None = text_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    processed_at: datetime | None = datetime_field()
    sent_at: datetime | None = datetime_field()
    delivered_at: datetime | None = datetime_field()


class MessageRecipient(SQLModel, table=True):
    __tablename__ = "message_recipients"
    __table_args__ = (
        sa.Index("ix_recipients_tenant_email", "tenant_id", "email"),
        sa.Index("ix_recipients_message", "message_id", "kind"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    message_id: str = Field(foreign_key="email_messages.id", max_length=40, ondelete="CASCADE")
    kind: str = Field(default=RecipientKind.TO, max_length=3)
    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=255)
    status: str = Field(default=RecipientStatus.PENDING, max_length=20)
    smtp_response: str | None = text_field()
    bounce_type: str | None = Field(default=None, max_length=10)
    attempts: int = 0
    # When a deferred (or held) recipient is tried next; the message's next_attempt_at is the
    # earliest of its recipients'.
    next_attempt_at: datetime | None = datetime_field()
    updated_at: datetime = updated_at_field()
    delivered_at: datetime | None = datetime_field()


class MessageAttachment(SQLModel, table=True):
    """Attachment metadata; the bytes live in object storage under `storage_key`."""

    __tablename__ = "message_attachments"
    __table_args__ = (sa.Index("ix_attachments_message", "message_id", "position"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    message_id: str = Field(foreign_key="email_messages.id", max_length=40, ondelete="CASCADE")
    position: int = 0
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    disposition: str = Field(default="attachment", max_length=10)
    content_id: str | None = Field(default=None, max_length=255)
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=512)
    created_at: datetime = created_at_field()


class MessageEvent(SQLModel, table=True):
    """The message timeline; also the source of webhooks and of the daily stats roll-up."""

    __tablename__ = "message_events"
    __table_args__ = (
        sa.Index("ix_events_message_time", "message_id", "occurred_at"),
        sa.Index("ix_events_tenant_type_time", "tenant_id", "event_type", "occurred_at"),
        sa.Index("ix_events_rolled_up", "rolled_up", "occurred_at"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    message_id: str | None = Field(
        default=None, foreign_key="email_messages.id", max_length=40, ondelete="CASCADE"
    )
    recipient_email: str | None = Field(default=None, max_length=320)
    event_type: str = Field(max_length=20)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    details: dict[str, Any] = json_field()
    rolled_up: bool = False


class MailBatch(SQLModel, table=True):
    """A batch id from POST /v3/mail/batch; `status` is SendGrid's scheduled-send pause/cancel."""

    __tablename__ = "mail_batches"
    __table_args__ = (sa.Index("ix_batches_tenant_status", "tenant_id", "status"),)

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = tenant_fk()
    status: str | None = Field(default=None, max_length=10)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
