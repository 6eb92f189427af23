"""Event vocabulary (the docs' 12 types), the event envelope, and SendGrid Event Webhook shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class EventType(StrEnum):
    PROCESSED = "processed"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCE = "bounce"
    BLOCKED = "blocked"
    DROPPED = "dropped"
    OPEN = "open"
    CLICK = "click"
    SPAM_REPORT = "spam_report"
    UNSUBSCRIBE = "unsubscribe"
    GROUP_UNSUBSCRIBE = "group_unsubscribe"
    GROUP_RESUBSCRIBE = "group_resubscribe"


ALL_EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)

# SendGrid spells two things differently: `spamreport`, and a block is a bounce of type "blocked".
_SENDGRID_NAMES = {EventType.SPAM_REPORT: "spamreport", EventType.BLOCKED: "bounce"}
# Keys of a SendGrid event that custom args may not overwrite.
_RESERVED_SENDGRID_KEYS = frozenset(
    {"email", "event", "timestamp", "sg_event_id", "sg_message_id", "smtp-id", "category"}
)


class EventEnvelope(BaseModel):
    """What a ScaiSend webhook endpoint receives, and what the message timeline shows."""

    event_id: str
    event_type: EventType
    timestamp: int
    message_id: str | None
    recipient_email: str | None
    tenant_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class SendGridContext(BaseModel):
    """Message facts a SendGrid-shaped event repeats: categories, custom args, ASM group."""

    categories: list[str] = Field(default_factory=list)
    custom_args: dict[str, str] = Field(default_factory=dict)
    asm_group_id: int | None = None
    smtp_id: str | None = None


def sendgrid_event_name(event_type: EventType) -> str:
    return _SENDGRID_NAMES.get(event_type, event_type.value)


def to_sendgrid_event(envelope: EventEnvelope, ctx: SendGridContext) -> dict[str, Any]:
    """Render an envelope the way SendGrid's Event Webhook does (custom args at top level)."""
    meta = envelope.metadata
    event: dict[str, Any] = {k: v for k, v in ctx.custom_args.items()}
    event.update(
        {
            "email": envelope.recipient_email,
            "timestamp": envelope.timestamp,
            "event": sendgrid_event_name(envelope.event_type),
            "sg_event_id": envelope.event_id,
            "sg_message_id": envelope.message_id,
        }
    )
    if ctx.smtp_id:
        event["smtp-id"] = ctx.smtp_id
    if ctx.categories:
        event["category"] = ctx.categories
    if ctx.asm_group_id is not None:
        event["asm_group_id"] = ctx.asm_group_id
    event.update(_sendgrid_extras(envelope.event_type, meta))
    return event


def _sendgrid_extras(event_type: EventType, meta: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if "smtp_response" in meta and event_type in (EventType.DELIVERED, EventType.DEFERRED):
        extras["response"] = meta["smtp_response"]
    if event_type == EventType.DEFERRED and "attempt" in meta:
        extras["attempt"] = str(meta["attempt"])
    if event_type in (EventType.BOUNCE, EventType.BLOCKED):
        extras["type"] = "blocked" if event_type == EventType.BLOCKED else "bounce"
        extras["reason"] = meta.get("reason") or meta.get("smtp_response", "")
        extras["status"] = meta.get("status", "")
        if meta.get("bounce_classification"):
            extras["bounce_classification"] = meta["bounce_classification"]
    if event_type == EventType.DROPPED:
        extras["reason"] = meta.get("reason", "")
        extras["status"] = meta.get("status", "5.0.0")
    for key in ("url", "useragent", "ip", "tls", "send_at", "domain"):
        if key in meta:
            extras[key] = meta[key]
    if "user_agent" in meta:
        extras["useragent"] = meta["user_agent"]
    if "asm_group_id" in meta:
        extras["asm_group_id"] = meta["asm_group_id"]
    return {k: v for k, v in extras.items() if k not in _RESERVED_SENDGRID_KEYS or k == "category"}
