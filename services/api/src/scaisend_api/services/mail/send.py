"""POST /v3/mail/send as a list of named steps: replay an idempotent request, validate, check
scopes and sender domains, store attachments, write every row in one transaction, commit, then
enqueue. Nothing is acknowledged (202) before its rows are committed.

The per-send lookups (references, sender domains) go through `state.reads`, single statements
without an ORM session; only an Idempotency-Key send opens a session."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from prometheus_client import Counter
from redis.exceptions import RedisError

from scaisend_api import idempotency
from scaisend_api.auth import Principal
from scaisend_api.deps import UnitOfWork
from scaisend_api.idempotency import StoredResponse
from scaisend_api.services.mail.attachments import store_attachments
from scaisend_api.services.mail.body import parse_json
from scaisend_api.services.mail.model import MailRequest
from scaisend_api.services.mail.rows import Context, Rows, build_rows, scheduled_for
from scaisend_api.services.mail.senders import SenderDomains
from scaisend_api.services.mail.validation import Checked, check_mail
from scaisend_api.state import AppState
from scaisend_core.db import Reads
from scaisend_core.errors import (
    FieldError,
    PermissionDenied,
    SenderDomainNotVerified,
    ValidationFailed,
)
from scaisend_core.metrics import SENDS_ACCEPTED
from scaisend_core.models import utcnow
from scaisend_core.repositories import mail as repo
from scaisend_core.repositories.idempotency import DuplicateKey
from scaisend_core.repositories.sender_domains import domain_of

log = logging.getLogger(__name__)
ACCEPTED = 202


@dataclass(frozen=True, slots=True)
class Send:
    principal: Principal
    raw: bytes
    idempotency_key: str | None
    now: datetime

    @property
    def request_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


async def send_mail(state: AppState, send: Send) -> StoredResponse:
    """Without an Idempotency-Key the rows join the process's group commit (shared INSERTs,
    COMMIT and EVAL) and no ORM session is opened at all; with one, the key's row must be in
    the same transaction as the mail, so that send has a session and commits on its own."""
    if send.idempotency_key:
        async with state.sessions() as session:
            uow = UnitOfWork(session, state)
            try:
                return await _send_once(uow, state, send)
            finally:
                uow.jobs.clear()
    rows = await prepare(state, send)
    await state.committer.submit(rows, state.redis)
    _count_accepted(rows)
    return accepted_response(rows.message_ids)


async def prepare(state: AppState, send: Send) -> Rows:
    """Validate, check scopes and sender domains, store attachments: the rows to write."""
    tenant_id = send.principal.tenant_id
    mail = await validate(state.reads, tenant_id, parse_json(send.raw), send.now)
    authorize_schedule(send.principal, mail, send.now)
    sandbox = send.principal.forces_sandbox or mail.sandbox_mode
    if not sandbox and needs_verified_sender(state):
        await check_sender_domains(state.senders, tenant_id, mail)
    rows = build_rows(mail, _context(state, send.principal, sandbox, send.now))
    await store_attachments(state.storage, tenant_id, mail.attachments)
    return rows


async def validate(reads: Reads, tenant_id: str, body: Any, now: datetime) -> MailRequest:
    """Rules and references together, so one 400 lists every problem."""
    checked = check_mail(body, int(now.timestamp()))
    errors = checked.errors + await reference_errors(reads, tenant_id, checked)
    if errors or checked.request is None:
        raise ValidationFailed(errors)
    return checked.request


async def reference_errors(reads: Reads, tenant_id: str, checked: Checked) -> list[FieldError]:
    errors = []
    if checked.template_id and not await repo.template_usable(
        reads, tenant_id, checked.template_id
    ):
        errors.append(FieldError(
            "The Template ID must be a valid template id for your account. "
            f"You provided {checked.template_id}.", "template_id"))  # fmt: skip
    if checked.batch_id and not await repo.batch_exists(reads, tenant_id, checked.batch_id):
        errors.append(FieldError(
            f"The batch id must be a valid batch id for your account. You provided "
            f"{checked.batch_id}.", "batch_id"))  # fmt: skip
    if checked.asm_group_ids:
        known = await repo.existing_asm_groups(reads, tenant_id, checked.asm_group_ids)
        for group_id in sorted(set(checked.asm_group_ids) - known):
            errors.append(FieldError(
                "The ASM group ID must be a valid Group ID on your account. "
                f"You provided {group_id}.", "asm.group_id"))  # fmt: skip
    return errors


def authorize_schedule(principal: Principal, mail: MailRequest, now: datetime) -> None:
    """A future send_at, or grouping into a batch, needs mail.schedule on top of mail.send."""
    if principal.has("mail.schedule"):
        return
    if any(scheduled_for(mail.send_at_of(p), now) for p in mail.personalizations):
        raise PermissionDenied("Missing required scope: mail.schedule", field="send_at")
    if mail.batch_id:
        raise PermissionDenied("Missing required scope: mail.schedule", field="batch_id")


def needs_verified_sender(state: AppState) -> bool:
    """Capture mode (`scaisend up`) writes every message to the local outbox, so any From
    domain is accepted there and SMTP signs it with a key made on first use; `mx` and
    `smarthost` put mail on the internet, where only verified domains may send."""
    return state.settings.smtp_delivery != "capture"


async def check_sender_domains(senders: SenderDomains, tenant_id: str, mail: MailRequest) -> None:
    """Live mail needs a verified, active sender domain for every From used."""
    addresses = {"from": mail.from_.email}
    for p in mail.personalizations:
        if p.from_ is not None:
            addresses.setdefault(f"personalizations.{p.index}.from", p.from_.email)
    checked: dict[str, bool] = {}
    for field, email in addresses.items():
        domain = domain_of(email)
        if domain not in checked:
            checked[domain] = await senders.verified(tenant_id, domain)
        if not checked[domain]:
            error = SenderDomainNotVerified(domain)
            error.field = field
            raise error


async def _send_once(uow: UnitOfWork, state: AppState, send: Send) -> StoredResponse:
    """An Idempotency-Key send: replay the first response, or commit the key's row with the
    mail in one transaction (committed before the 202), then enqueue."""
    assert send.idempotency_key is not None
    tenant_id = send.principal.tenant_id
    if stored := await idempotency.replay(
        uow.session, tenant_id, send.idempotency_key, send.request_hash, send.now
    ):
        return stored
    rows = await prepare(state, send)
    response = accepted_response(rows.message_ids)
    try:
        await idempotency.remember(
            uow.session, tenant_id, send.idempotency_key, send.request_hash, response, send.now
        )
        await repo.insert_accepted(uow.session, rows.messages, rows.recipients, rows.attachments)
    except DuplicateKey:
        return await _lost_the_race(uow, send)
    for job in rows.jobs:
        uow.enqueue(job)
    await commit_then_enqueue(uow, state)
    _count_accepted(rows)
    return response


def _count_accepted(rows: Rows) -> None:
    """A send's messages are all sandbox or all live (one context builds them)."""
    if rows.messages:
        sandbox = rows.messages[0]["status"] == "sandbox"
        _accepted("sandbox" if sandbox else "live").inc(len(rows.messages))


@lru_cache(maxsize=2)
def _accepted(mode: str) -> Counter:
    """The labelled child, looked up once (`labels()` takes a lock and builds a key)."""
    return SENDS_ACCEPTED.labels(mode)


async def _lost_the_race(uow: UnitOfWork, send: Send) -> StoredResponse:
    """A concurrent request with the same key committed first: answer with its response."""
    await uow.session.rollback()
    uow.jobs.clear()
    assert send.idempotency_key is not None
    stored = await idempotency.replay(
        uow.session, send.principal.tenant_id, send.idempotency_key, send.request_hash, send.now
    )
    if stored is None:  # the winner's record expired in between: vanishingly rare, say so
        raise DuplicateKey("Idempotency-Key is in use by a concurrent request; retry")
    return stored


async def commit_then_enqueue(uow: UnitOfWork, state: AppState) -> None:
    """Once committed the mail is accepted: if Redis fails now, the worker's reconciler finds
    the queued rows and enqueues them, so the client still gets its 202."""
    await uow.session.commit()
    try:
        await uow.jobs.flush(state.redis)
    except (RedisError, OSError):
        log.warning("accepted mail committed but not enqueued; the reconciler will enqueue it",
                    exc_info=True)  # fmt: skip


def accepted_response(message_ids: list[str]) -> StoredResponse:
    body: dict[str, object] = (
        {"message_id": message_ids[0]} if len(message_ids) == 1 else {"message_ids": message_ids}
    )
    return StoredResponse(ACCEPTED, body, {"X-Message-Id": message_ids[0]})


def _context(state: AppState, principal: Principal, sandbox: bool, now: datetime) -> Context:
    return Context(
        tenant_id=principal.tenant_id,
        api_key_id=principal.credential_id if principal.kind == "api_key" else None,
        ehlo_hostname=state.settings.ehlo_hostname,
        sandbox=sandbox,
        now=now,
    )


def new_send(principal: Principal, raw: bytes, idempotency_key: str | None) -> Send:
    return Send(principal, raw, idempotency.check_key(idempotency_key), utcnow())
