"""The `process_message` job on `email:process`: parse the contract, run the pipeline (in a group
with the jobs running at the same time, process/groups.py), turn a temporary storage failure into
an arq retry."""

from __future__ import annotations

import time
from typing import Any

from arq.worker import Retry

from scaisend_core.errors import StorageError
from scaisend_core.logs import log_context
from scaisend_core.metrics import JOB_DURATION
from scaisend_core.queue import ProcessMessage
from scaisend_worker.context import from_ctx
from scaisend_worker.process.groups import MessageGroups

MAX_TRIES = 5
GROUPS_KEY = "process_message_groups"


def retry_delay(job_try: int) -> int:
    """2 s, 4 s, 8 s, 16 s: storage hiccups are short; the reconciler covers longer outages."""
    return int(min(60, 2**job_try))


def open_groups(ctx: dict[str, Any]) -> None:
    """The process's one group-commit drainer, in the worker's ctx (startup): arq hands each
    job a copy of that ctx, so what a job sets there is its own."""
    ctx[GROUPS_KEY] = MessageGroups(from_ctx(ctx))


def groups(ctx: dict[str, Any]) -> MessageGroups:
    found = ctx.get(GROUPS_KEY)
    if isinstance(found, MessageGroups):
        return found
    return MessageGroups(from_ctx(ctx))  # a ctx without startup's drainer: a group of one


async def close_groups(ctx: dict[str, Any]) -> None:
    found = ctx.pop(GROUPS_KEY, None)
    if isinstance(found, MessageGroups):
        await found.close()


async def process_message(ctx: dict[str, Any], message_id: str, attempt: int = 0) -> str:
    job = ProcessMessage(message_id=message_id, attempt=attempt)
    started = time.perf_counter()
    outcome = "error"
    with log_context(message_id=job.message_id):
        try:
            outcome = (await groups(ctx).submit(job.message_id)).value
        except StorageError as exc:
            outcome = "retry"
            raise Retry(defer=retry_delay(int(ctx.get("job_try", 1)))) from exc
        finally:
            JOB_DURATION.labels(job.job_name, outcome).observe(time.perf_counter() - started)
    return outcome
