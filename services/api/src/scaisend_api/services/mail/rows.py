"""From a validated request to rows: one email_messages row per personalization (message-level
values merged with the personalization's, which win), its recipients and attachment rows, and
the jobs to enqueue after commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scaisend_api.services.mail.attachments import storage_key
from scaisend_api.services.mail.model import Address, MailRequest, Personalization
from scaisend_core.ids import new_id
from scaisend_core.models import MessageStatus, RecipientStatus
from scaisend_core.queue import ProcessMessage

# "send_at in the past or within a few seconds of now is treated as send now" (docs).
SEND_NOW_WINDOW = 5


@dataclass(frozen=True, slots=True)
class Context:
    tenant_id: str
    api_key_id: str | None
    ehlo_hostname: str
    sandbox: bool
    now: datetime


@dataclass(slots=True)
class Rows:
    messages: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[ProcessMessage] = field(default_factory=list)

    @property
    def message_ids(self) -> list[str]:
        return [m["id"] for m in self.messages]


def scheduled_for(send_at: int | None, now: datetime) -> datetime | None:
    """The due time of a future send_at; None means send now."""
    if send_at is None or send_at <= now.timestamp() + SEND_NOW_WINDOW:
        return None
    return datetime.fromtimestamp(send_at, UTC)


def build_rows(mail: MailRequest, ctx: Context) -> Rows:
    rows = Rows()
    for p in mail.personalizations:
        message = _message(mail, p, ctx)
        rows.messages.append(message)
        rows.recipients.extend(_recipients(p, message["id"], ctx))
        rows.attachments.extend(_attachments(mail, message["id"], ctx))
        if not ctx.sandbox and message["send_at"] is None:
            rows.jobs.append(ProcessMessage(message_id=message["id"]))
    return rows


def merge_headers(top: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """Personalization headers win, compared case-insensitively as mail headers are."""
    overridden = {name.lower() for name in own}
    return {k: v for k, v in top.items() if k.lower() not in overridden} | own


def _message(mail: MailRequest, p: Personalization, ctx: Context) -> dict[str, Any]:
    message_id = new_id("msg")
    sender = mail.from_of(p)
    status = MessageStatus.SANDBOX if ctx.sandbox else MessageStatus.QUEUED
    return {
        "id": message_id,
        "tenant_id": ctx.tenant_id,
        "api_key_id": ctx.api_key_id,
        "batch_id": mail.batch_id,
        "personalization_index": p.index,
        "status": status.value,
        "sandbox": ctx.sandbox,
        "from_email": sender.email,
        "from_name": sender.name,
        "reply_to": [a.as_json() for a in mail.reply_to],
        "subject": p.subject if p.subject is not None else mail.subject,
        "template_id": mail.template_id,
        "template_version_id": None,
        "content": mail.content,
        "headers": merge_headers(mail.headers, p.headers),
        "custom_args": mail.custom_args | p.custom_args,
        "categories": mail.categories,
        "substitutions": p.substitutions,
        "dynamic_template_data": p.dynamic_template_data,
        "sections": mail.sections,
        "asm_group_id": mail.asm_group_id,
        "asm_groups_to_display": mail.asm_groups_to_display,
        "ip_pool_name": mail.ip_pool_name,
        "mail_settings": mail.mail_settings,
        "tracking_settings": mail.tracking_settings,
        "send_at": scheduled_for(mail.send_at_of(p), ctx.now),
        # Fixed at accept time so every retry of the message carries the same Message-ID.
        "message_id_header": f"<{message_id}@{ctx.ehlo_hostname}>",
        **_LIFECYCLE_DEFAULTS,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }


_LIFECYCLE_DEFAULTS: dict[str, Any] = {
    "mime_key": None,
    "mime_size": None,
    "attempts": 0,
    "next_attempt_at": None,
    "error_message": None,
    "processed_at": None,
    "sent_at": None,
    "delivered_at": None,
}


def _recipients(p: Personalization, message_id: str, ctx: Context) -> list[dict[str, Any]]:
    kinds: tuple[tuple[str, list[Address]], ...] = (("to", p.to), ("cc", p.cc), ("bcc", p.bcc))
    return [
        {
            "id": new_id("rcp"),
            "tenant_id": ctx.tenant_id,
            "message_id": message_id,
            "kind": kind,
            "email": address.email,
            "name": address.name,
            "status": RecipientStatus.PENDING.value,
            "smtp_response": None,
            "bounce_type": None,
            "attempts": 0,
            "updated_at": ctx.now,
            "delivered_at": None,
        }
        for kind, addresses in kinds
        for address in addresses
    ]


def _attachments(mail: MailRequest, message_id: str, ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id("att"),
            "tenant_id": ctx.tenant_id,
            "message_id": message_id,
            "position": position,
            "filename": item.filename,
            "content_type": item.type,
            "disposition": item.disposition,
            "content_id": item.content_id,
            "size": len(item.content),
            "sha256": item.sha256,
            "storage_key": storage_key(ctx.tenant_id, item.sha256),
            "created_at": ctx.now,
        }
        for position, item in enumerate(mail.attachments)
    ]
