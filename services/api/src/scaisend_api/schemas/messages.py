"""Response bodies of /v3/messages (docs: reference/messages): the list summary, the full
message with recipients, attachments and its event timeline, and the action results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from scaisend_core.events import EventEnvelope


class MessageSummary(BaseModel):
    id: str
    status: str
    from_email: str
    from_name: str | None
    subject: str | None
    to_emails: list[str]
    template_id: str | None
    batch_id: str | None
    categories: list[str]
    created_at: datetime
    delivered_at: datetime | None


class MessageList(BaseModel):
    messages: list[MessageSummary]
    total: int
    page: int
    page_size: int
    total_pages: int


class RecipientOut(BaseModel):
    email: str
    name: str | None
    kind: str = Field(description="to, cc or bcc.")
    status: str = Field(description="pending, deferred, delivered, bounced, dropped or failed.")
    smtp_response: str | None
    bounce_type: str | None
    attempts: int
    updated_at: datetime
    delivered_at: datetime | None


class AttachmentOut(BaseModel):
    filename: str
    type: str
    disposition: str
    content_id: str | None
    size: int
    sha256: str


class AsmOut(BaseModel):
    group_id: int
    groups_to_display: list[int]


class MessageDetail(BaseModel):
    id: str
    status: str
    sandbox: bool
    batch_id: str | None
    api_key_id: str | None
    personalization_index: int
    from_email: str
    from_name: str | None
    reply_to: list[dict[str, Any]]
    subject: str | None
    headers: dict[str, str] = Field(description="Custom headers (message and personalization).")
    message_id_header: str = Field(description="The Message-ID the message is sent with.")
    template_id: str | None = Field(description="Body reference: the dynamic template.")
    template_version_id: str | None = Field(description="The version it was rendered with.")
    content: list[dict[str, Any]] = Field(description="Body reference: inline content blocks.")
    mime_key: str | None = Field(description="Body reference: the rendered MIME in storage.")
    mime_size: int | None
    dynamic_template_data: dict[str, Any] | None
    substitutions: dict[str, str]
    sections: dict[str, str]
    custom_args: dict[str, str]
    categories: list[str]
    asm: AsmOut | None
    ip_pool_name: str | None
    mail_settings: dict[str, Any]
    tracking_settings: dict[str, Any]
    send_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    recipients: list[RecipientOut]
    attachments: list[AttachmentOut]
    events: list[EventEnvelope] = Field(description="The timeline, oldest first.")


class FailRequest(BaseModel):
    reason: str | None = Field(None, max_length=1000, description="Stored as error_message.")


class MessageAction(BaseModel):
    id: str
    status: str
    error_message: str | None = None
