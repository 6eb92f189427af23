"""Webhook delivery jobs; the worker's WorkerSettings includes these lists, its on_startup calls
`open_webhook_runtime(ctx)` and its on_shutdown `close_webhook_runtime(ctx)`, so one runtime
(HTTP client, lanes) serves the process and requests in flight finish before it exits."""

from __future__ import annotations

from scaisend_worker.webhooks.jobs import WEBHOOK_CRON_JOBS, WEBHOOK_FUNCTIONS
from scaisend_worker.webhooks.runtime import close_webhook_runtime, open_webhook_runtime

__all__ = [
    "WEBHOOK_CRON_JOBS",
    "WEBHOOK_FUNCTIONS",
    "close_webhook_runtime",
    "open_webhook_runtime",
]
