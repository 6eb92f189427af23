"""The arq worker on `smtp:deliver`: the deliver_message job and how the worker runs it."""

from __future__ import annotations

from typing import Any

from arq.worker import Function, func

from scaisend_core.queue import DeliverMessage
from scaisend_core.queue.contracts import SMTP_DELIVER
from scaisend_core.queue.worker import BatchWorker
from scaisend_smtp.outbound.context import Outbound
from scaisend_smtp.outbound.pipeline import deliver
from scaisend_smtp.settings import SmtpSettings

# A delivery may walk several MX hosts, each allowed SMTP_COMMAND_TIMEOUT per reply.
JOB_TIMEOUT = 3600
# Retry(defer=) re-runs a job that came too early; each re-run counts as a try.
MAX_TRIES = 10_000
# Results are kept briefly: long enough to read in tests and tools, short enough that a
# re-enqueue with the same deterministic id (the reconciler's) is not refused for long.
KEEP_RESULT = 60


async def deliver_message(ctx: dict[str, Any], message_id: str, attempt: int = 0) -> str:
    """DeliverMessage(message_id, attempt): one delivery attempt (pipeline.deliver)."""
    outbound: Outbound = ctx["outbound"]
    return await deliver(outbound, DeliverMessage(message_id=message_id, attempt=attempt))


OUTBOUND_FUNCTIONS: list[Function] = [
    func(
        deliver_message,
        name=DeliverMessage.job_name,
        max_tries=MAX_TRIES,
        timeout=JOB_TIMEOUT,
        keep_result=KEEP_RESULT,
    )
]


def outbound_worker(
    settings: SmtpSettings, outbound: Outbound, *, burst: bool = False
) -> BatchWorker:
    """The worker shares the Outbound's Redis pool; runner.run_worker stops it gracefully."""
    return BatchWorker(
        functions=OUTBOUND_FUNCTIONS,
        queue_name=SMTP_DELIVER,
        redis_pool=outbound.redis,
        ctx={"outbound": outbound, "settings": settings},
        burst=burst,
        handle_signals=False,
        max_jobs=settings.smtp_deliver_concurrency,
        poll_delay=settings.smtp_poll_delay,
        job_timeout=JOB_TIMEOUT,
        keep_result=KEEP_RESULT,
        max_tries=MAX_TRIES,
        log_results=False,
    )
