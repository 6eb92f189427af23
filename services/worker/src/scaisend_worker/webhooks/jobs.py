"""The arq side of webhook delivery: `deliver_webhook` on `webhook:deliver` wakes the lane of one
delivery's endpoint, and a cron every second wakes every lane with due deliveries. MySQL is the
source of truth, so retries, restarts, lost jobs and a wiped Redis all end the same way: the
cron finds the due rows and their lanes claim them."""

from __future__ import annotations

from typing import Any

from arq.cron import cron
from arq.worker import func

from scaisend_core.queue import DeliverWebhook
from scaisend_core.repositories import webhook_deliveries as repo
from scaisend_worker.webhooks.runtime import webhook_runtime

EVERY_SECOND = set(range(60))


async def deliver_webhook(
    ctx: dict[str, Any], delivery_id: str, attempt: int = 0, endpoint_id: str | None = None
) -> None:
    """Returns at once: the lane sends the delivery when it has a free slot, so a slow endpoint
    never holds this worker's job slots."""
    job = DeliverWebhook(delivery_id=delivery_id, attempt=attempt, endpoint_id=endpoint_id)
    runtime = webhook_runtime(ctx)
    if job.endpoint_id is not None and runtime.lanes.wake_existing(job.endpoint_id):
        return
    async with runtime.sessions() as session:
        found = await repo.endpoint_of(session, job.delivery_id)
    if found is not None:
        runtime.lanes.wake(*found)


async def wake_due_webhooks(ctx: dict[str, Any]) -> int:
    """The reconciler and the SendGrid batcher in one: every endpoint with due deliveries gets
    its lane woken; Event Webhook lanes take what accumulated since the last tick as a batch."""
    runtime = webhook_runtime(ctx)
    async with runtime.sessions() as session:
        due = await repo.due_endpoints(session, runtime.clock())
    for endpoint_id, kind in due:
        runtime.lanes.wake(endpoint_id, kind)
    return len(due)


# keep_result=0: nothing waits on these results, and a kept result would block re-enqueueing
# the same deterministic job id.
WEBHOOK_FUNCTIONS = [func(deliver_webhook, name=DeliverWebhook.job_name, keep_result=0)]
WEBHOOK_CRON_JOBS = [
    cron(wake_due_webhooks, second=EVERY_SECOND, run_at_startup=True, keep_result=0, timeout=30)
]
