"""process_message as named steps, in one transaction: load -> honour the batch -> claim
(queued -> processing) -> drop suppressed recipients -> render, track, build MIME -> store it ->
rendered + `processed` events -> commit -> enqueue delivery (and webhook jobs) after the commit.

A render error fails the message (`failed`, `error_message`), never the worker. Anything else
(database, storage) rolls the whole step back: the message is still `queued`, so a retry or the
reconciler processes it again from the start.

Messages whose jobs run at the same time go through the steps as a group (`process_group`): one
transaction, and one statement per step for all of them (load, claim, suppression lists,
attachments, status moves, events), one COMMIT and one EVAL for the jobs they produce; a
message's rows, events, jobs and MIME are those it gets alone. A group that cannot finish
together (a claim lost to another worker, a storage or database error) is rolled back before
anything is committed, and each of its messages then goes through the steps on its own, so each
job gets exactly its own outcome or exception."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from scaisend_core.errors import ObjectNotFound
from scaisend_core.events import EventType
from scaisend_core.models import (
    EmailMessage,
    MessageAttachment,
    MessageRecipient,
    MessageStatus,
    RecipientStatus,
)
from scaisend_core.queue import DeliverMessage
from scaisend_core.repositories.events import NewEvent, insert_events
from scaisend_core.repositories.suppressions import (
    group_suppressed_core,
    normalise_email,
    suppressed_kinds_core,
)
from scaisend_core.templating import TemplateRenderError
from scaisend_worker import repository as repo
from scaisend_worker.context import UnitOfWork, WorkerContext, unit_of_work
from scaisend_worker.process import compose
from scaisend_worker.process.suppression import checks_lists, drop_reason, event_details
from scaisend_worker.render.content import render_content
from scaisend_worker.render.mime import MimeDocument, MimeError, build
from scaisend_worker.render.tracking import TrackingLinks, apply_tracking, effective_settings

log = logging.getLogger(__name__)

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


class ClaimLost(Exception):
    """Another worker took (or a cancel moved) one of a group's messages since it was loaded."""


@dataclass(slots=True)
class Run:
    """One message going through the steps, and what the steps learnt so far."""

    app: WorkerContext
    loaded: repo.Loaded
    now: datetime
    sendable: list[MessageRecipient] = field(default_factory=list)
    template_version_id: str | None = None
    attachments: list[MessageAttachment] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        return self.loaded.message

    @property
    def recipients(self) -> list[MessageRecipient]:
        return self.loaded.recipients


@dataclass(slots=True)
class Group:
    """The transaction a group's messages share, and the writes their steps leave for its end
    (one statement each)."""

    uow: UnitOfWork
    conn: AsyncConnection
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # recipient ids
    failed_recipients: list[str] = field(default_factory=list)
    rendered: list[dict[str, Any]] = field(default_factory=list)  # status moves
    failed: list[dict[str, Any]] = field(default_factory=list)


async def process_message(app: WorkerContext, message_id: str) -> Outcome:
    """One message through the steps in its own transaction."""
    outcomes, _ = await _process(app, [message_id], alone=True)
    return outcomes[message_id]


async def process_group(
    app: WorkerContext, message_ids: Sequence[str]
) -> list[Outcome | Exception]:
    """Each message's outcome (or the exception its steps raised), in the order given."""
    unique = list(dict.fromkeys(message_ids))
    if len(unique) == 1:
        return [await _alone(app, m) for m in message_ids]
    try:
        outcomes, later = await _process(app, unique, alone=False)
    except Exception as exc:  # each message is retried alone and gets its own
        log.warning("a group of %d messages failed together (%r); processing them one by one",
                 len(unique), exc)  # fmt: skip
        return [await _alone(app, m) for m in message_ids]
    results: dict[str, Outcome | Exception] = dict(outcomes)
    for message_id in later:
        results[message_id] = await _alone(app, message_id)
    seen: set[str] = set()
    ordered: list[Outcome | Exception] = []
    for message_id in message_ids:  # a repeated id runs again after the group, as it would
        repeated = message_id in seen
        seen.add(message_id)
        ordered.append(await _alone(app, message_id) if repeated else results[message_id])
    return ordered


async def _alone(app: WorkerContext, message_id: str) -> Outcome | Exception:
    try:
        return await process_message(app, message_id)
    except Exception as exc:  # handed to the message's own job
        return exc


async def _process(
    app: WorkerContext, message_ids: list[str], *, alone: bool
) -> tuple[dict[str, Outcome], list[str]]:
    """The steps for `message_ids` in one transaction; also the ids left to process alone
    (in a group: messages not `queued` when loaded, whose outcome a claim alone decides)."""
    async with unit_of_work(app) as uow:
        loaded = await repo.load_many(uow.session, message_ids)
        if alone and not loaded:
            return {message_ids[0]: Outcome.MISSING}, []
        group = Group(uow, await uow.session.connection())
        group.outcomes.update((m, Outcome.MISSING) for m in message_ids if m not in loaded)
        now = app.clock()
        later = [
            m for m, found in loaded.items()
            if not alone and found.message.status != MessageStatus.QUEUED
        ]  # fmt: skip
        runs = [Run(app, loaded[m], now) for m in message_ids if m in loaded and m not in later]
        await _steps(group, runs, alone=alone)
        await _write(group)
        await uow.commit()
    return group.outcomes, later


async def _steps(group: Group, runs: list[Run], *, alone: bool) -> None:
    pending = []
    for run in runs:
        held = await honour_batch(group, run)
        if held is not None:
            group.outcomes[run.message.id] = held
        else:
            pending.append(run)
    if not await claim(group, pending, alone=alone):
        return
    await drop_suppressed(group, pending)
    await fetch_attachments(group, pending)
    rendered: list[tuple[Run, MimeDocument]] = []
    for run in pending:
        document = await _render(group, run)
        if isinstance(document, MimeDocument):
            rendered.append((run, document))
        else:
            group.outcomes[run.message.id] = document
    await _store_all(group, rendered)


async def _render(group: Group, run: Run) -> MimeDocument | Outcome:
    """The message's MIME, or the outcome that fails it."""
    if not run.sendable:
        return fail(group, run, "every recipient was dropped (suppressed)", Outcome.ALL_DROPPED)
    try:
        return await render(group, run)
    except (TemplateRenderError, MimeError) as exc:
        return fail(group, run, str(exc), Outcome.FAILED)


async def _store_all(group: Group, rendered: list[tuple[Run, MimeDocument]]) -> None:
    """Every body of the group goes to storage at once (S3 puts, and attachment reads, take
    tens of milliseconds each: one after the other they would add up per group). All of them
    are waited for before anything else happens: a failed group is processed again alone, and
    a put still running then could overwrite the body written alone."""
    results = await asyncio.gather(
        *(store(run, document) for run, document in rendered), return_exceptions=True
    )
    for (run, _), result in zip(rendered, results, strict=True):
        if isinstance(result, ObjectNotFound):  # an attachment's bytes are gone: no retry helps
            reason = f"attachment missing from object storage: {result}"
            group.outcomes[run.message.id] = fail(group, run, reason, Outcome.FAILED)
        elif isinstance(result, BaseException):
            raise result
        else:
            group.rendered.append(result)
            record_processed(group, run)
            group.outcomes[run.message.id] = Outcome.RENDERED


async def honour_batch(group: Group, run: Run) -> Outcome | None:
    """A cancelled batch's messages are discarded; a paused batch holds them (72 h past
    send_at, then they are discarded as expired)."""
    message, session = run.message, group.uow.session
    if message.status != MessageStatus.QUEUED or not message.batch_id:
        return None
    state = await repo.batch_status(session, message.tenant_id, message.batch_id)
    if state == repo.CANCEL:
        await repo.discard(session, [message.id], f"batch {message.batch_id} cancelled")
        return Outcome.CANCELLED
    if state == repo.PAUSE:
        due = message.send_at or message.created_at
        if run.now - due < PAUSED_EXPIRY:
            return Outcome.HELD
        reason = f"batch {message.batch_id} paused for more than 72 hours; discarded as expired"
        await repo.discard(session, [message.id], reason)
        return Outcome.CANCELLED
    return None


async def claim(group: Group, runs: list[Run], *, alone: bool) -> bool:
    """queued -> processing for every run; False (the message skipped) when another job got
    there first or it was cancelled. In a group, one lost claim sends every message back to
    be processed alone (ClaimLost), where the claim is exact."""
    if not runs:
        return False
    claimed = await repo.claim_many(group.conn, [run.message.id for run in runs])
    if claimed == len(runs):
        return True
    if not alone:
        raise ClaimLost(f"{len(runs) - claimed} of {len(runs)} claims lost")
    group.outcomes[runs[0].message.id] = Outcome.SKIPPED
    return False


async def drop_suppressed(group: Group, runs: list[Run]) -> None:
    """One lookup per tenant (and per ASM group) for every pending recipient of the runs."""
    checked = [run for run in runs if checks_lists(run.message.mail_settings)]
    by_tenant: dict[str, set[str]] = {}
    by_asm_group: dict[tuple[str, int], set[str]] = {}
    for run in checked:
        emails = {r.email for r in run.recipients if r.status == RecipientStatus.PENDING}
        by_tenant.setdefault(run.message.tenant_id, set()).update(emails)
        if run.message.asm_group_id is not None:
            key = (run.message.tenant_id, run.message.asm_group_id)
            by_asm_group.setdefault(key, set()).update(emails)
    kinds = {t: await suppressed_kinds_core(group.conn, t, e) for t, e in by_tenant.items()}
    in_groups = {
        key: await group_suppressed_core(group.conn, key[0], key[1], emails)
        for key, emails in by_asm_group.items()
    }
    for run in runs:
        message = run.message
        tenant_kinds = kinds.get(message.tenant_id, {})
        unsubscribed: set[str] = set()
        if message.asm_group_id is not None:
            unsubscribed = in_groups.get((message.tenant_id, message.asm_group_id), set())
        for recipient in run.recipients:
            if recipient.status != RecipientStatus.PENDING:
                continue
            address = normalise_email(recipient.email)
            reason = drop_reason(
                tenant_kinds.get(address, ()), address in unsubscribed, message.mail_settings
            )
            if reason is None:
                run.sendable.append(recipient)
                continue
            group.dropped.append(recipient.id)
            details = {**event_details(reason), "recipient_id": recipient.id}
            group.events.append(_event(run, EventType.DROPPED, recipient, details))


async def fetch_attachments(group: Group, runs: list[Run]) -> None:
    """Attachment rows of every run that has some and is still to be rendered, in one query."""
    wanted = [run for run in runs if run.loaded.has_attachments and run.sendable]
    if not wanted:
        return
    found = await repo.attachments_of_many(group.uow.session, [run.message.id for run in wanted])
    for run in wanted:
        run.attachments = found.get(run.message.id, [])


async def render(group: Group, run: Run) -> MimeDocument:
    message = run.message
    template = await compose.template_source(
        group.uow.session, message, run.app.template_sources, run.loaded
    )
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
    return build(compose.composition(message, run.recipients, tracked, run.attachments, run.now))


async def store(run: Run, document: MimeDocument) -> dict[str, Any]:
    """The body goes to object storage first; only then does the row say `rendered` (the
    status move returned here is written with the group's)."""
    message = run.message
    key = f"mime/{message.tenant_id}/{message.id}.eml"
    streamed = sum(a.size for a in document.attachments) > INLINE_MIME_LIMIT
    storage = run.app.storage
    body = document.stream(storage) if streamed else await document.to_bytes(storage)
    size = await storage.put(key, body, "message/rfc822")
    return {
        "message_id": message.id, "mime_key": key, "mime_size": size, "processed_at": run.now,
        "template_version_id": run.template_version_id,
    }  # fmt: skip


def record_processed(group: Group, run: Run) -> None:
    """One `processed` event per recipient the message goes to, then the delivery job (both
    leave Redis untouched until the transaction commits)."""
    details: dict[str, object] = {}
    if run.message.send_at is not None:
        details["send_at"] = int(run.message.send_at.timestamp())
    group.events += [
        _event(run, EventType.PROCESSED, r, {**details, "recipient_id": r.id}) for r in run.sendable
    ]
    group.uow.enqueue(DeliverMessage(message_id=run.message.id))


def fail(group: Group, run: Run, reason: str, outcome: Outcome) -> Outcome:
    group.failed_recipients += [r.id for r in run.sendable]
    group.failed.append({
        "message_id": run.message.id, "error_message": reason[:MAX_ERROR_LENGTH],
        "processed_at": run.now,
    })  # fmt: skip
    return outcome


async def _write(group: Group) -> None:
    """What the steps left for the end: recipient and message moves, then the events (and
    their webhook deliveries)."""
    await repo.mark_recipients(group.conn, group.dropped, RecipientStatus.DROPPED)
    await repo.mark_recipients(group.conn, group.failed_recipients, RecipientStatus.FAILED)
    await repo.mark_rendered_many(group.conn, group.rendered)
    await repo.mark_failed_many(group.conn, group.failed)
    await insert_events(group.conn, group.events, group.uow.jobs)


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
