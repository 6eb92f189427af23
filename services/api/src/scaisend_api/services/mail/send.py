"""POST /v3/mail/send as a list of named steps: replay an idempotent request, validate, check
scopes and sender domains, store attachments, write every row in one transaction, commit, then
enqueue. Nothing is acknowledged (202) before its rows are committed."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api import idempotency
from scaisend_api.auth import Principal
from scaisend_api.deps import UnitOfWork
from scaisend_api.idempotency import StoredResponse
from scaisend_api.services.mail.attachments import store_attachments
from scaisend_api.services.mail.body import parse_json
from scaisend_api.services.mail.model import MailRequest
from scaisend_api.services.mail.rows import Context, Rows, build_rows, scheduled_for
from scaisend_api.services.mail.validation import Checked, check_mail
from scaisend_api.state import AppState
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
from scaisend_core.repositories.sender_domains import domain_of, sending_domain_for

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


async def send_mail(uow: UnitOfWork, state: AppState, send: Send) -> StoredResponse:
    tenant_id = send.principal.tenant_id
    if send.idempotency_key and (
        stored := await idempotency.replay(
            uow.session, tenant_id, send.idempotency_key, send.request_hash, send.now
        )
    ):
        return stored
    mail = await validate(uow.session, tenant_id, parse_json(send.raw), send.now)
    authorize_schedule(send.principal, mail, send.now)
    sandbox = send.principal.forces_sandbox or mail.sandbox_mode
    if not sandbox and needs_verified_sender(state):
        await check_sender_domains(uow.session, tenant_id, mail)
    rows = build_rows(mail, _context(state, send.principal, sandbox, send.now))
    await store_attachments(state.storage, tenant_id, mail.attachments)
    return await persist(uow, state, send, rows)


async def validate(session: AsyncSession, tenant_id: str, body: Any, now: datetime) -> MailRequest:
    """Rules and references together, so one 400 lists every problem."""
    checked = check_mail(body, int(now.timestamp()))
    errors = checked.errors + await reference_errors(session, tenant_id, checked)
    if errors or checked.request is None:
        raise ValidationFailed(errors)
    return checked.request


async def reference_errors(
    session: AsyncSession, tenant_id: str, checked: Checked
) -> list[FieldError]:
    errors = []
    if checked.template_id and not await repo.template_usable(
        session, tenant_id, checked.template_id
    ):
        errors.append(FieldError(
            "The Template ID must be a valid template id for your account. "
            f"You provided {checked.template_id}.", "template_id"))  # fmt: skip
    if checked.batch_id and not await repo.batch_exists(session, tenant_id, checked.batch_id):
        errors.append(FieldError(
            f"The batch id must be a valid batch id for your account. You provided "
            f"{checked.batch_id}.", "batch_id"))  # fmt: skip
    if checked.asm_group_ids:
        known = await repo.existing_asm_groups(session, tenant_id, checked.asm_group_ids)
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


async def check_sender_domains(session: AsyncSession, tenant_id: str, mail: MailRequest) -> None:
    """Live mail needs a verified, active sender domain for every From used."""
    senders = {"from": mail.from_.email}
    for p in mail.personalizations:
        if p.from_ is not None:
            senders.setdefault(f"personalizations.{p.index}.from", p.from_.email)
    checked: dict[str, bool] = {}
    for field, email in senders.items():
        domain = domain_of(email)
        if domain not in checked:
            checked[domain] = await sending_domain_for(session, tenant_id, email) is not None
        if not checked[domain]:
            error = SenderDomainNotVerified(domain)
            error.field = field
            raise error


async def persist(uow: UnitOfWork, state: AppState, send: Send, rows: Rows) -> StoredResponse:
    """Committed before the 202 either way. Without an Idempotency-Key the rows join the
    process's group commit (shared INSERTs, COMMIT and EVAL); with one, the key's row must be
    in the same transaction as the mail, so that send commits on its own."""
    response = accepted_response(rows.message_ids)
    if send.idempotency_key:
        try:
            await idempotency.remember(
                uow.session, send.principal.tenant_id, send.idempotency_key,
                send.request_hash, response, send.now,
            )  # fmt: skip
            await repo.insert_accepted(
                uow.session, rows.messages, rows.recipients, rows.attachments
            )
        except DuplicateKey:
            return await _lost_the_race(uow, send)
        for job in rows.jobs:
            uow.enqueue(job)
        await commit_then_enqueue(uow, state)
    else:
        await uow.session.rollback()  # only reads so far: give the connection back first
        await state.committer.submit(rows, state.redis)
    for message in rows.messages:
        SENDS_ACCEPTED.labels("sandbox" if message["status"] == "sandbox" else "live").inc()
    return response


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
