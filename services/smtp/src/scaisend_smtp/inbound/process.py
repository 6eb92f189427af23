"""The `process_inbound` job on `smtp:inbound`: load what the listener stored, parse it,
correlate it with our message, apply it, and account for it. Every message ends counted in
`scaisend_inbound_messages_total{kind, outcome}` and logged; what could not be used is marked
unmatched next to the raw bytes, which are never deleted. Only infrastructure failures retry.

Once a message has an outcome its pending mark is cleared; the `sweep_inbound` cron re-queues
messages whose mark outlived STRANDED_AFTER (their job was lost with Redis, or gave up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from arq.cron import CronJob, cron
from arq.worker import Retry, Worker, func
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import SessionFactory, transaction
from scaisend_core.errors import ObjectNotFound, StorageError
from scaisend_core.metrics import INBOUND_MESSAGES, INBOUND_REQUEUED
from scaisend_core.models import utcnow
from scaisend_core.queue import JobBuffer, ProcessInbound
from scaisend_core.queue.connection import arq_redis_settings
from scaisend_core.queue.contracts import SMTP_INBOUND
from scaisend_core.storage import Storage
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import store
from scaisend_smtp.inbound.apply import Applied, apply_delivery, apply_feedback
from scaisend_smtp.inbound.correlate import correlate
from scaisend_smtp.inbound.parse import parse_report
from scaisend_smtp.inbound.reports import FeedbackReport, Report, Unrecognised, report_kind

MAX_TRIES = 12
MAX_RETRY_DELAY = 1800
CONCURRENCY = 10
# A pending mark this old has no live job: the listener queues one within milliseconds, and a
# job that is queued, running or retrying keeps its id, so re-queueing it is a no-op anyway.
STRANDED_AFTER = timedelta(minutes=10)
# Infrastructure that may come back; anything else is a bug or bad input and is not retried.
_TRANSIENT = (StorageError, OperationalError, InterfaceError, RedisError, OSError, TimeoutError)
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InboundContext:
    """What the job needs, built once per worker and kept in ctx["inbound"]."""

    sessions: SessionFactory
    storage: Storage
    redis: ArqRedis  # webhook delivery jobs are queued here after each commit
    verp: Verp

    @classmethod
    def of(cls, ctx: dict[str, Any]) -> InboundContext:
        """ctx["inbound"], or one built from the keys `scaisend smtp`'s runner puts in the ctx
        of its smtp:inbound worker (sessions, storage, verp, jobs_redis)."""
        context = ctx.get("inbound")
        if not isinstance(context, InboundContext):
            redis = ctx.get("jobs_redis") or ctx["redis"]
            context = cls(ctx["sessions"], ctx["storage"], redis, ctx["verp"])
            ctx["inbound"] = context
        return context


async def process_inbound(ctx: dict[str, Any], storage_key: str) -> str:
    """arq entry point; returns the outcome (kept as the job result)."""
    job = ProcessInbound(storage_key=storage_key)
    try:
        return await process(InboundContext.of(ctx), job.storage_key)
    except _TRANSIENT as exc:
        delay = min(30 * 2 ** int(ctx.get("job_try", 1)), MAX_RETRY_DELAY)
        log.warning("inbound %s: %s; retrying in %ss", storage_key, exc, delay)
        raise Retry(defer=delay) from exc


async def process(context: InboundContext, storage_key: str) -> str:
    """The pipeline: load -> parse -> correlate and apply -> account."""
    try:
        raw, envelope = await store.load(context.storage, storage_key)
    except ObjectNotFound:
        log.error("inbound %s: stored message is missing; nothing to process", storage_key)
        INBOUND_MESSAGES.labels("unknown", "missing").inc()
        await store.settle(context.storage, storage_key)
        return "missing"
    report = parse_report(raw)
    try:
        applied = await _apply(context, envelope, report)
    except _TRANSIENT:
        raise
    except Exception as exc:  # a bug must not lose the message: keep it, count it, say why
        log.exception("inbound %s: processing failed", storage_key)
        applied = Applied("unmatched", (f"processing error: {type(exc).__name__}: {exc}",))
        outcome = await _account(context, storage_key, report, applied, error=True)
    else:
        outcome = await _account(context, storage_key, report, applied)
    await store.settle(context.storage, storage_key)
    return outcome


async def sweep_inbound(ctx: dict[str, Any]) -> int:
    """Cron: re-queue stored messages whose processing job is gone (store.requeue_stranded)."""
    context = InboundContext.of(ctx)
    queued = await store.requeue_stranded(
        context.storage, context.redis, older_than=STRANDED_AFTER, now=utcnow()
    )
    if queued:
        INBOUND_REQUEUED.inc(queued)  # non-zero means Redis lost jobs: worth an operator's look
        log.warning("re-queued %d stored inbound messages whose jobs were lost", queued)
    return queued


async def _apply(
    context: InboundContext, envelope: store.InboundEnvelope, report: Report
) -> Applied:
    if isinstance(report, Unrecognised):
        return Applied("unmatched", (report.reason,))
    jobs = JobBuffer()
    async with transaction(context.sessions) as session:
        applied = await _apply_report(session, jobs, context.verp, envelope, report)
    try:
        await jobs.flush(context.redis)
    except RedisError:  # the events are committed; their webhook rows stay pending
        log.warning("could not queue webhook deliveries for inbound events", exc_info=True)
    return applied


async def _apply_report(
    session: AsyncSession,
    jobs: JobBuffer,
    verp: Verp,
    envelope: store.InboundEnvelope,
    report: Report,
) -> Applied:
    assert not isinstance(report, Unrecognised)
    extra = report.original_mail_from if isinstance(report, FeedbackReport) else None
    paths = (*envelope.rcpt_tos, report.returned.return_path, extra)
    found = await correlate(session, verp, paths, report.returned)
    if found is None:
        return Applied("unmatched", ("no message of ours matches the report",))
    if isinstance(report, FeedbackReport):
        return await apply_feedback(session, jobs, found, report)
    return await apply_delivery(session, jobs, found, report)


async def _account(
    context: InboundContext,
    storage_key: str,
    report: Report,
    applied: Applied,
    *,
    error: bool = False,
) -> str:
    kind = report_kind(report)
    outcome = (
        "error"
        if error
        else "unrecognised"
        if isinstance(report, Unrecognised)
        else applied.outcome
    )
    INBOUND_MESSAGES.labels(kind, outcome).inc()
    reason = "; ".join(applied.reasons) or outcome
    level = logging.INFO if outcome in {"applied", "duplicate", "ignored"} else logging.WARNING
    log.log(level, "inbound %s: %s %s (%s)", storage_key, kind, outcome, reason)
    if outcome in {"unmatched", "unrecognised", "error"}:
        await store.mark_unmatched(
            context.storage, storage_key, kind=kind, outcome=outcome, reason=reason
        )
    return outcome


INBOUND_FUNCTIONS = [func(process_inbound, name=ProcessInbound.job_name, max_tries=MAX_TRIES)]


def inbound_crons() -> list[CronJob]:
    """Every five minutes on one replica (arq cron ids are unique per run time), and at
    startup. New objects per worker: a CronJob keeps its schedule state."""
    return [
        cron(sweep_inbound, minute=set(range(0, 60, 5)), second=20, run_at_startup=True,
             keep_result=0, timeout=300),
    ]  # fmt: skip


def inbound_worker(
    context: InboundContext,
    *,
    redis_url: str | None = None,
    redis_pool: ArqRedis | None = None,
    burst: bool = False,
) -> Worker:
    """An arq worker consuming `smtp:inbound` on its own (its own pool from redis_url, or
    redis_pool); `scaisend smtp` runs INBOUND_FUNCTIONS in its runner's worker instead."""
    return Worker(
        functions=INBOUND_FUNCTIONS,
        cron_jobs=inbound_crons(),
        queue_name=SMTP_INBOUND,
        redis_settings=arq_redis_settings(redis_url) if redis_url else None,
        redis_pool=redis_pool,
        ctx={"inbound": context},
        burst=burst,
        handle_signals=False,
        max_jobs=CONCURRENCY,
        poll_delay=0.2,
    )
