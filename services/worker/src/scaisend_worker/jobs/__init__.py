"""The worker's arq functions and cron jobs (webhook delivery adds its own, in webhooks/)."""

from arq.worker import Function, func

from scaisend_core.queue import ProcessMessage
from scaisend_worker.jobs.crons import CRON_JOBS
from scaisend_worker.jobs.process_message import MAX_TRIES, process_message

# keep_result=0: a kept result would make re-enqueueing the same deterministic job id a no-op
# for an hour, and the reconciler relies on re-enqueueing.
FUNCTIONS: list[Function] = [
    func(process_message, name=ProcessMessage.job_name, keep_result=0, max_tries=MAX_TRIES)
]

__all__ = ["CRON_JOBS", "FUNCTIONS"]
