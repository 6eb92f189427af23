"""From database rows to what the renderer and the MIME builder take: the template version to
render, the tracking links' recipient, the footer setting and the MIME composition."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.ids import is_dynamic_template_id
from scaisend_core.models import EmailMessage, MessageAttachment, MessageRecipient, RecipientKind
from scaisend_core.repositories import templates as template_repo
from scaisend_core.templating import TemplateRenderError
from scaisend_worker.process.suppression import enabled
from scaisend_worker.render.content import TemplateSource
from scaisend_worker.render.mime import AttachmentRef, Composition, Mailbox
from scaisend_worker.render.tracking import Footer, Tracked
from scaisend_worker.repository import Loaded

KIND_ORDER = {RecipientKind.TO.value: 0, RecipientKind.CC.value: 1, RecipientKind.BCC.value: 2}


def in_header_order(recipients: Sequence[MessageRecipient]) -> list[MessageRecipient]:
    return sorted(recipients, key=lambda r: KIND_ORDER.get(r.kind, 3))


def tracked_recipient(recipients: Sequence[MessageRecipient]) -> MessageRecipient:
    """Whose id the message's tracking tokens carry: the first recipient mail goes to, `to`
    before `cc` before `bcc` (one MIME serves every recipient of the personalization)."""
    return in_header_order(recipients)[0]


class SourceCache:
    """Template version sources by (version id, updated_at), least recently used out: the load
    query already says which version a message renders, so a hit saves the version's query.
    A patched version has a new updated_at, hence a new key (as in the compiled cache)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, datetime], TemplateSource] = OrderedDict()

    def get(self, version_id: str | None, updated_at: datetime | None) -> TemplateSource | None:
        if version_id is None or updated_at is None:
            return None
        found = self._entries.get((version_id, updated_at))
        if found is not None:
            self._entries.move_to_end((version_id, updated_at))
        return found

    def put(self, source: TemplateSource) -> None:
        self._entries[(source.version_id, source.updated_at)] = source
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def template_source(
    session: AsyncSession, message: EmailMessage, cache: SourceCache, loaded: Loaded
) -> TemplateSource | None:
    """The version pinned on the message, else the template's active one (a template deleted
    after the message was accepted still renders)."""
    if not message.template_id:
        return None
    dynamic = is_dynamic_template_id(message.template_id)
    cached = cache.get(loaded.version_id, loaded.version_updated_at)
    if cached is not None:
        return dataclasses.replace(cached, dynamic=dynamic)
    if message.template_version_id:
        version = await template_repo.version_by_id(
            session, message.tenant_id, message.template_version_id
        )
    else:
        version = await template_repo.active_version(
            session, message.tenant_id, message.template_id, include_deleted=True
        )
    if version is None:
        raise TemplateRenderError(f"template {message.template_id} has no active version")
    source = TemplateSource(
        version_id=version.id,
        updated_at=version.updated_at,
        dynamic=dynamic,
        subject=version.subject,
        html=version.html_content,
        plain=version.plain_content,
        generate_plain=version.generate_plain_content,
    )
    cache.put(source)
    return source


def footer_of(mail_settings: dict[str, Any]) -> Footer | None:
    if not enabled(mail_settings, "footer"):
        return None
    setting = mail_settings["footer"]
    return Footer(text=setting.get("text") or None, html=setting.get("html") or None)


def _mailbox(entry: dict[str, Any]) -> Mailbox:
    return Mailbox(email=str(entry["email"]), name=entry.get("name") or None)


def composition(
    message: EmailMessage,
    recipients: Sequence[MessageRecipient],
    tracked: Tracked,
    attachments: Sequence[MessageAttachment],
    date: datetime,
) -> Composition:
    """Every to/cc recipient of the personalization appears in the headers (bcc never does),
    dropped or not, as the sender wrote them; the SMTP service only delivers to pending ones."""
    ordered = in_header_order(recipients)
    headers = {**message.headers}
    for name, value in tracked.headers.items():  # a sender's own List-Unsubscribe wins
        if name.lower() not in {h.lower() for h in headers}:
            headers[name] = value
    return Composition(
        message_id=message.id,
        message_id_header=message.message_id_header,
        date=date,
        sender=Mailbox(message.from_email, message.from_name),
        to=[Mailbox(r.email, r.name) for r in ordered if r.kind == RecipientKind.TO],
        cc=[Mailbox(r.email, r.name) for r in ordered if r.kind == RecipientKind.CC],
        reply_to=[_mailbox(entry) for entry in message.reply_to],
        subject=tracked.content.subject,
        headers=headers,
        text=tracked.content.text,
        html=tracked.content.html,
        others=tracked.content.others,
        attachments=[
            AttachmentRef(
                filename=a.filename,
                content_type=a.content_type,
                disposition=a.disposition,
                content_id=a.content_id,
                storage_key=a.storage_key,
                size=a.size,
            )
            for a in attachments
        ],
    )
