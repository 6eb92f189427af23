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
    """Render an envelope the way SendGrid's Event Webhook does (sendgrid-v3 §3.2, §3.3): custom
    args at the top level, under the reserved keys, which always win."""
    event: dict[str, Any] = dict(ctx.custom_args)
    event.update(
        {
            "email": envelope.recipient_email,
            "timestamp": envelope.timestamp,
            "event": sendgrid_event_name(envelope.event_type),
            "sg_event_id": envelope.event_id,
        }
    )
    if envelope.message_id:
        event["sg_message_id"] = envelope.message_id
    if ctx.smtp_id and envelope.event_type in _SMTP_ID_EVENTS:
        event["smtp-id"] = ctx.smtp_id
    if ctx.categories:
        event["category"] = ctx.categories
    if ctx.asm_group_id is not None:
        event["asm_group_id"] = ctx.asm_group_id
    event.update(_sendgrid_extras(envelope.event_type, envelope.metadata))
    return event


# Events that carry the message's Message-ID as `smtp-id` in SendGrid's payloads.
_SMTP_ID_EVENTS = frozenset(
    {
        EventType.PROCESSED,
        EventType.DROPPED,
        EventType.DELIVERED,
        EventType.DEFERRED,
        EventType.BOUNCE,
        EventType.BLOCKED,
        EventType.SPAM_REPORT,
    }
)
# Metadata keys copied as they are when present: (ScaiSend metadata key, SendGrid key).
_PASS_THROUGH: dict[EventType, tuple[tuple[str, str], ...]] = {
    EventType.PROCESSED: (("send_at", "send_at"), ("pool", "pool")),
    EventType.DELIVERED: (("smtp_response", "response"), ("ip", "ip"), ("tls", "tls")),
    EventType.DEFERRED: (
        ("smtp_response", "response"),
        ("ip", "ip"),
        ("tls", "tls"),
        ("domain", "domain"),
        ("from", "from"),
    ),
    EventType.BOUNCE: (
        ("ip", "ip"),
        ("tls", "tls"),
        ("bounce_classification", "bounce_classification"),
    ),
    EventType.OPEN: (
        ("sg_machine_open", "sg_machine_open"),
        ("sg_content_type", "sg_content_type"),
    ),
    EventType.CLICK: (("url", "url"), ("url_offset", "url_offset")),
    EventType.GROUP_UNSUBSCRIBE: (("url", "url"),),
    EventType.GROUP_RESUBSCRIBE: (("url", "url"),),
}
_PASS_THROUGH[EventType.BLOCKED] = _PASS_THROUGH[EventType.BOUNCE]
# Where the recipient acted (tracking events), SendGrid reports their IP and user agent.
_CLIENT_EVENTS = frozenset(
    {
        EventType.OPEN,
        EventType.CLICK,
        EventType.UNSUBSCRIBE,
        EventType.GROUP_UNSUBSCRIBE,
        EventType.GROUP_RESUBSCRIBE,
    }
)


def _sendgrid_extras(event_type: EventType, meta: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {
        out: meta[key] for key, out in _PASS_THROUGH.get(event_type, ()) if key in meta
    }
    if event_type in _CLIENT_EVENTS:
        if "ip" in meta:
            extras["ip"] = meta["ip"]
        agent = meta.get("useragent", meta.get("user_agent"))
        if agent is not None:
            extras["useragent"] = agent
    if event_type == EventType.DEFERRED and "attempt" in meta:
        extras["attempt"] = str(meta["attempt"])  # a string in SendGrid's payloads
    if event_type in (EventType.BOUNCE, EventType.BLOCKED):
        extras["type"] = "blocked" if event_type == EventType.BLOCKED else "bounce"
        extras["reason"] = meta.get("reason") or meta.get("smtp_response", "")
        extras["status"] = meta.get("status", "")
    if event_type == EventType.DROPPED:
        extras["reason"] = meta.get("sendgrid_reason") or meta.get("reason", "")
        extras["status"] = meta.get("status", "5.0.0")
    if isinstance(extras.get("tls"), bool):
        extras["tls"] = int(extras["tls"])  # SendGrid sends 1/0
    if "asm_group_id" in meta:
        extras["asm_group_id"] = meta["asm_group_id"]
    return extras
