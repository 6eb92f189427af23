"""The `process_message` job on `email:process`: parse the contract, run the pipeline, turn a
temporary storage failure into an arq retry."""

from __future__ import annotations

import time
from typing import Any

from arq.worker import Retry

from scaisend_core.errors import StorageError
from scaisend_core.logs import log_context
from scaisend_core.metrics import JOB_DURATION
from scaisend_core.queue import ProcessMessage
from scaisend_worker.context import from_ctx
from scaisend_worker.process.pipeline import process_message as run_pipeline

MAX_TRIES = 5


def retry_delay(job_try: int) -> int:
    """2 s, 4 s, 8 s, 16 s: storage hiccups are short; the reconciler covers longer outages."""
    return int(min(60, 2**job_try))


async def process_message(ctx: dict[str, Any], message_id: str, attempt: int = 0) -> str:
    job = ProcessMessage(message_id=message_id, attempt=attempt)
    app = from_ctx(ctx)
    started = time.perf_counter()
    outcome = "error"
    with log_context(message_id=job.message_id):
        try:
            outcome = (await run_pipeline(app, job.message_id)).value
        except StorageError as exc:
            outcome = "retry"
            raise Retry(defer=retry_delay(int(ctx.get("job_try", 1)))) from exc
        finally:
            JOB_DURATION.labels(job.job_name, outcome).observe(time.perf_counter() - started)
    return outcome
