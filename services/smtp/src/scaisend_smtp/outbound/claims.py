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
        """One transaction for the batch: load, decide, claim every candidate in one statement.
        If some claim was lost to a concurrent job the batch raises, and the Batcher runs each
        job on its own, where the count says exactly which one lost."""
        now = self._now()
        async with self._sessions() as session:
            loaded = await store.load_messages(session, [job.message_id for job in jobs])
            decided = [_decide(job, loaded.get(job.message_id), now) for job in jobs]
            candidates = [d for d in decided if isinstance(d, _Candidate)]
            won = await store.claim(session, [(c.message.id, c.attempt) for c in candidates], now)
            if won != len(candidates):
                if len(candidates) > 1:
                    raise ClaimContended(f"{len(candidates) - won} of {len(candidates)} lost")
                decided = [Skip("skipped: claimed by another job") if isinstance(d, _Candidate)
                           else d for d in decided]  # fmt: skip
            claims = [await self._claimed(session, d, now) for d in decided]
            await session.commit()
        return claims

    async def _claimed(
        self, session: AsyncSession, decided: Claim | _Candidate, now: datetime
    ) -> Claim:
        if not isinstance(decided, _Candidate):
            return decided
        domain = await self._domains.for_message(session, decided.message)
        return Claimed(decided.message, decided.recipients, decided.due, domain, now)


class ClaimContended(Exception):
    """A batch lost a claim to a concurrent job; retried job by job."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    message: EmailMessage
    recipients: list[MessageRecipient]
    due: list[MessageRecipient]
    attempt: int


def _decide(
    job: DeliverMessage,
    loaded: tuple[EmailMessage, list[MessageRecipient]] | None,
    now: datetime,
) -> Claim | _Candidate:
    """Stale (the message moved on) or early (nothing due yet), or a candidate to claim."""
    if loaded is None:
        return Skip("skipped: no such message")
    message, recipients = loaded
    if message.status not in store.CLAIMABLE or message.attempts != job.attempt:
        return Skip(f"skipped: message is {message.status} at attempt {message.attempts}")
    due = [r for r in recipients if is_due(r, now)]
    if not due and any(r.status in WAITING for r in recipients):
        waiting = [r.next_attempt_at for r in recipients if r.next_attempt_at is not None]
        return NotYet(max(min(waiting, default=now) - now, timedelta(seconds=1)))
    return _Candidate(message, recipients, due, job.attempt)


def is_due(recipient: MessageRecipient, now: datetime) -> bool:
    if recipient.status not in WAITING:
        return False
    return recipient.next_attempt_at is None or recipient.next_attempt_at <= now + DUE_SLACK
