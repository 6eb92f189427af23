"""Webhook delivery jobs; the worker's WorkerSettings includes these lists, and its on_shutdown
calls `close_webhook_runtime(ctx)` so requests in flight finish before the process exits."""

from __future__ import annotations

from scaisend_worker.webhooks.jobs import WEBHOOK_CRON_JOBS, WEBHOOK_FUNCTIONS
from scaisend_worker.webhooks.runtime import close_webhook_runtime

__all__ = ["WEBHOOK_CRON_JOBS", "WEBHOOK_FUNCTIONS", "close_webhook_runtime"]
