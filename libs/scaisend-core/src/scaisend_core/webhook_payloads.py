"""Webhook request bodies from event rows: one envelope per POST for ScaiSend endpoints, a JSON
array of SendGrid-shaped events for the Event Webhook, and the sample array the test button
sends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import orjson

from scaisend_core.events import (
    EventEnvelope,
    EventType,
    SendGridContext,
    to_sendgrid_event,
)

SCAISEND_USER_AGENT = "ScaiSend-Webhooks/1.0"
SENDGRID_USER_AGENT = "SendGrid Event API"  # what SendGrid's own posts say; receivers match it
JSON = "application/json"
# SendGrid separates array items with ",\r\n" and ends with "\r\n" (its verifiers' fixtures).
_SENDGRID_SEPARATOR = b",\r\n"


class EventRow(Protocol):
    """The fields of an event row a body is made from (a MessageEvent, or a claimed row)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def recipient_email(self) -> str | None: ...
    @property
    def event_type(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def details(self) -> dict[str, Any]: ...


def envelope_for(event: EventRow) -> EventEnvelope:
    return EventEnvelope(
        event_id=event.id,
        event_type=EventType(event.event_type),
        timestamp=int(event.occurred_at.timestamp()),
        message_id=event.message_id,
        recipient_email=event.recipient_email,
        tenant_id=event.tenant_id,
        metadata=event.details,
    )


def scaisend_body(envelope: EventEnvelope) -> bytes:
    return orjson.dumps(envelope.model_dump(mode="json"))


def sendgrid_event_for(event: EventRow, ctx: SendGridContext) -> bytes:
    """One SendGrid-shaped event, JSON-encoded (compact, as SendGrid sends it)."""
    return orjson.dumps(to_sendgrid_event(envelope_for(event), ctx))


def sendgrid_body(encoded_events: Iterable[bytes]) -> bytes:
    return b"[" + _SENDGRID_SEPARATOR.join(encoded_events) + b"]\r\n"


def sendgrid_sample_events(now: datetime) -> list[bytes]:
    """What POST /v3/user/webhooks/event/test sends: one event of each SendGrid type, for a
    made-up message, so a receiver can see every shape."""
    timestamp = int(now.timestamp())
    ctx = SendGridContext(
        categories=["cat facts"],
        custom_args={"sample": "true"},
        smtp_id="<14c5d75ce93.dfd.64b469@ismtpd-555>",
    )
    samples: list[bytes] = []
    for index, event_type in enumerate(_SAMPLE_TYPES):
        envelope = EventEnvelope(
            event_id=f"sg_event_id_sample_{index}",
            event_type=event_type,
            timestamp=timestamp,
            message_id="sg_message_id_sample",
            recipient_email="example@test.com",
            tenant_id="sample",
            metadata=_SAMPLE_METADATA.get(event_type, {}),
        )
        samples.append(orjson.dumps(to_sendgrid_event(envelope, ctx)))
    return samples


_SAMPLE_TYPES = tuple(EventType)  # `blocked` comes out as a bounce of type "blocked"
_SAMPLE_METADATA: dict[EventType, dict[str, Any]] = {
    EventType.DELIVERED: {"smtp_response": "250 OK", "ip": "192.0.2.10", "tls": True},
    EventType.DEFERRED: {"smtp_response": "400 try again later", "attempt": 5},
    EventType.BOUNCE: {
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "bounce_classification": "Invalid Address",
    },
    EventType.BLOCKED: {"reason": "550 blocked by policy", "status": "5.7.1"},
    EventType.DROPPED: {"reason": "Bounced Address", "status": "5.0.0"},
    EventType.OPEN: {"useragent": "Mozilla/4.0", "ip": "255.255.255.255"},
    EventType.CLICK: {
        "url": "http://www.sendgrid.com/",
        "useragent": "Mozilla/4.0",
        "ip": "255.255.255.255",
    },
    EventType.GROUP_UNSUBSCRIBE: {
        "asm_group_id": 10,
        "useragent": "Mozilla/4.0",
        "ip": "255.255.255.255",
    },
    EventType.GROUP_RESUBSCRIBE: {
        "asm_group_id": 10,
        "useragent": "Mozilla/4.0",
        "ip": "255.255.255.255",
    },
}
