"""process_message as named steps, in one transaction: load -> honour the batch -> claim
(queued -> processing) -> drop suppressed recipients -> render, track, build MIME -> store it ->
rendered + `processed` events -> commit -> enqueue delivery (and webhook jobs) after the commit.

A render error fails the message (`failed`, `error_message`), never the worker. Anything else
(database, storage) rolls the whole step back: the message is still `queued`, so a retry or the
reconciler processes it again from the start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from scaisend_core.errors import ObjectNotFound
from scaisend_core.events import EventType
from scaisend_core.models import (
    EmailMessage,
    MessageRecipient,
    MessageStatus,
    RecipientStatus,
)
from scaisend_core.queue import DeliverMessage
from scaisend_core.repositories.events import NewEvent, record_events
from scaisend_core.repositories.suppressions import (
    group_suppressed,
    normalise_email,
    suppressed_kinds,
)
from scaisend_core.templating import TemplateRenderError
from scaisend_worker import repository as repo
from scaisend_worker.context import UnitOfWork, WorkerContext, unit_of_work
from scaisend_worker.process import compose
from scaisend_worker.process.suppression import checks_lists, drop_reason, event_details
from scaisend_worker.render.content import render_content
from scaisend_worker.render.mime import MimeDocument, MimeError, build
from scaisend_worker.render.tracking import TrackingLinks, apply_tracking, effective_settings

PAUSED_EXPIRY = timedelta(hours=72)  # SendGrid discards paused sends 72 h after send_at
INLINE_MIME_LIMIT = 5 * 1024 * 1024  # larger bodies stream from attachments into storage
MAX_ERROR_LENGTH = 2000


class Outcome(StrEnum):
    RENDERED = "rendered"
    FAILED = "failed"
    ALL_DROPPED = "all_dropped"
    CANCELLED = "cancelled"
    HELD = "held"
    SKIPPED = "skipped"
    MISSING = "missing"


@dataclass(slots=True)
class Run:
    """One message going through the steps, and what the steps learnt so far."""

    app: WorkerContext
    uow: UnitOfWork
    loaded: repo.Loaded
    now: datetime
    sendable: list[MessageRecipient] = field(default_factory=list)
    template_version_id: str | None = None

    @property
    def message(self) -> EmailMessage:
        return self.loaded.message

    @property
    def recipients(self) -> list[MessageRecipient]:
        return self.loaded.recipients


async def process_message(app: WorkerContext, message_id: str) -> Outcome:
    async with unit_of_work(app) as uow:
        loaded = await repo.load_for_processing(uow.session, message_id)
        if loaded is None:
            return Outcome.MISSING
        run = Run(app, uow, loaded, app.clock())
        outcome = await _steps(run)
        await uow.commit()
    return outcome


async def _steps(run: Run) -> Outcome:
    held = await honour_batch(run)
    if held is not None:
        return held
    if not await claim(run):
        return Outcome.SKIPPED
    await drop_suppressed(run)
    if not run.sendable:
        return await fail(run, "every recipient was dropped (suppressed)", Outcome.ALL_DROPPED)
    try:
        await store(run, await render(run))
    except (TemplateRenderError, MimeError) as exc:
        return await fail(run, str(exc), Outcome.FAILED)
    except ObjectNotFound as exc:  # an attachment's bytes are gone; retrying cannot help
        return await fail(run, f"attachment missing from object storage: {exc}", Outcome.FAILED)
    await record_processed(run)
    return Outcome.RENDERED


async def honour_batch(run: Run) -> Outcome | None:
    """A cancelled batch's messages are discarded; a paused batch holds them (72 h past
    send_at, then they are discarded as expired)."""
    message = run.message
    if message.status != MessageStatus.QUEUED or not message.batch_id:
        return None
    state = await repo.batch_status(run.uow.session, message.tenant_id, message.batch_id)
    if state == repo.CANCEL:
        await repo.discard(run.uow.session, [message.id], f"batch {message.batch_id} cancelled")
        return Outcome.CANCELLED
    if state == repo.PAUSE:
        due = message.send_at or message.created_at
        if run.now - due < PAUSED_EXPIRY:
            return Outcome.HELD
        reason = f"batch {message.batch_id} paused for more than 72 hours; discarded as expired"
        await repo.discard(run.uow.session, [message.id], reason)
        return Outcome.CANCELLED
    return None


async def claim(run: Run) -> bool:
    """queued -> processing; False when another job got there first or it was cancelled."""
    return await repo.claim(run.uow.session, run.message.id)


async def drop_suppressed(run: Run) -> None:
    message, session = run.message, run.uow.session
    pending = [r for r in run.recipients if r.status == RecipientStatus.PENDING]
    emails = [r.email for r in pending]
    kinds: dict[str, set[str]] = {}
    group: set[str] = set()
    if checks_lists(message.mail_settings):
        kinds = await suppressed_kinds(session, message.tenant_id, emails)
        if message.asm_group_id is not None:
            group = await group_suppressed(session, message.tenant_id, message.asm_group_id, emails)
    events, dropped = [], []
    for recipient in pending:
        address = normalise_email(recipient.email)
        reason = drop_reason(kinds.get(address, ()), address in group, message.mail_settings)
        if reason is None:
            run.sendable.append(recipient)
            continue
        dropped.append(recipient.id)
        details = {**event_details(reason), "recipient_id": recipient.id}
        events.append(_event(run, EventType.DROPPED, recipient, details))
    await repo.mark_recipients(session, dropped, RecipientStatus.DROPPED)
    await record_events(session, events, run.uow.jobs)


async def render(run: Run) -> MimeDocument:
    message, session = run.message, run.uow.session
    template = await compose.template_source(session, message, run.app.template_sources, run.loaded)
    run.template_version_id = template.version_id if template else None
    links = TrackingLinks(
        base_url=run.app.settings.public_base_url,
        tokens=run.app.tokens,
        message_id=message.id,
        recipient_id=compose.tracked_recipient(run.sendable).id,
    )
    content = render_content(message, template, run.app.templates, links.unsubscribe())
    tracked = apply_tracking(
        content,
        effective_settings(run.loaded.tenant_settings, message.tracking_settings),
        links,
        footer=compose.footer_of(message.mail_settings),
        list_unsubscribe=message.asm_group_id is not None,
    )
    attachments = (
        await repo.attachments_of(session, message.id) if run.loaded.has_attachments else []
    )
    return build(compose.composition(message, run.recipients, tracked, attachments, run.now))


async def store(run: Run, document: MimeDocument) -> None:
    """The body goes to object storage first; only then does the row say `rendered`."""
    message = run.message
    key = f"mime/{message.tenant_id}/{message.id}.eml"
    streamed = sum(a.size for a in document.attachments) > INLINE_MIME_LIMIT
    storage = run.app.storage
    body = document.stream(storage) if streamed else await document.to_bytes(storage)
    size = await storage.put(key, body, "message/rfc822")
    await repo.mark_rendered(
        run.uow.session,
        message.id,
        mime_key=key,
        mime_size=size,
        processed_at=run.now,
        template_version_id=run.template_version_id,
    )


async def record_processed(run: Run) -> None:
    """One `processed` event per recipient the message goes to, then the delivery job (both
    leave Redis untouched until the transaction commits)."""
    details: dict[str, object] = {}
    if run.message.send_at is not None:
        details["send_at"] = int(run.message.send_at.timestamp())
    events = [
        _event(run, EventType.PROCESSED, r, {**details, "recipient_id": r.id}) for r in run.sendable
    ]
    await record_events(run.uow.session, events, run.uow.jobs)
    run.uow.enqueue(DeliverMessage(message_id=run.message.id))


async def fail(run: Run, reason: str, outcome: Outcome) -> Outcome:
    await repo.mark_recipients(
        run.uow.session, [r.id for r in run.sendable], RecipientStatus.FAILED
    )
    await repo.mark_failed(
        run.uow.session, run.message.id, reason[:MAX_ERROR_LENGTH], processed_at=run.now
    )
    return outcome


def _event(
    run: Run, kind: EventType, recipient: MessageRecipient, details: Mapping[str, object]
) -> NewEvent:
    return NewEvent(
        tenant_id=run.message.tenant_id,
        event_type=kind,
        message_id=run.message.id,
        recipient_email=recipient.email,
        details=dict(details),
        occurred_at=run.now,
    )
