"""Claiming delivery attempts, group-committed: jobs that start together are loaded with one
query per table and claimed in one transaction. A job is stale (the message moved on, another
job has it) or early (its recipients' retry time has not come) or it gets the attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, MessageRecipient, SenderDomain
from scaisend_core.queue import DeliverMessage
from scaisend_smtp.outbound import store
from scaisend_smtp.outbound.batch import Batcher
from scaisend_smtp.outbound.domains import SenderDomains
from scaisend_smtp.outbound.outcomes import WAITING

DUE_SLACK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Claimed:
    message: EmailMessage
    recipients: list[MessageRecipient]
    due: list[MessageRecipient]
    domain: SenderDomain | None
    now: datetime


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class NotYet:
    retry_in: timedelta


Claim = Claimed | Skip | NotYet


class Claimer:
    def __init__(
        self, sessions: SessionFactory, domains: SenderDomains, now: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._domains = domains
        self._now = now
        self._batcher: Batcher[DeliverMessage, Claim] = Batcher("claims", self._claim_all)

    async def claim(self, job: DeliverMessage) -> Claim:
        return await self._batcher.submit(job)

    async def close(self) -> None:
        await self._batcher.close()

    async def _claim_all(self, jobs: list[DeliverMessage]) -> list[Claim]:
        now = self._now()
        async with self._sessions() as session:
            loaded = await store.load_messages(session, [job.message_id for job in jobs])
            claims = [await self._claim(session, job, loaded.get(job.message_id), now)
                      for job in jobs]  # fmt: skip
            await session.commit()
        return claims

    async def _claim(
        self,
        session: AsyncSession,
        job: DeliverMessage,
        loaded: tuple[EmailMessage, list[MessageRecipient]] | None,
        now: datetime,
    ) -> Claim:
        if loaded is None:
            return Skip("skipped: no such message")
        message, recipients = loaded
        if message.status not in store.CLAIMABLE or message.attempts != job.attempt:
            return Skip(f"skipped: message is {message.status} at attempt {message.attempts}")
        due = [r for r in recipients if is_due(r, now)]
        if not due and any(r.status in WAITING for r in recipients):
            waiting = [r.next_attempt_at for r in recipients if r.next_attempt_at is not None]
            return NotYet(max(min(waiting, default=now) - now, timedelta(seconds=1)))
        if not await store.claim(session, message.id, job.attempt, now):
            return Skip("skipped: claimed by another job")
        domain = await self._domains.for_message(session, message)
        return Claimed(message, recipients, due, domain, now)


def is_due(recipient: MessageRecipient, now: datetime) -> bool:
    if recipient.status not in WAITING:
        return False
    return recipient.next_attempt_at is None or recipient.next_attempt_at <= now + DUE_SLACK
