"""Webhook delivery jobs; the worker's WorkerSettings includes these lists."""

from __future__ import annotations

from typing import Any

# arq job functions and cron jobs for `webhook:deliver`; filled in by the webhooks package.
WEBHOOK_FUNCTIONS: list[Any] = []
WEBHOOK_CRON_JOBS: list[Any] = []
