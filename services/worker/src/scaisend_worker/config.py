"""Worker service settings: CoreSettings plus the knobs only `scaisend worker` reads."""

from __future__ import annotations

from pydantic import Field

from scaisend_core.config import CoreSettings


class WorkerConfig(CoreSettings):
    metrics_host: str = Field("0.0.0.0", description="Address of the /metrics and /health server.")
    metrics_port: int = Field(
        9100, ge=0, le=65535, description="Port of the /metrics and /health server (0 = off)."
    )
    worker_concurrency: int = Field(
        20, ge=1, description="Jobs one worker process runs at once per queue (arq max_jobs)."
    )
    worker_poll_delay: float = Field(
        0.05, gt=0, description="Seconds between polls of an idle queue."
    )
    worker_shutdown_timeout: float = Field(
        30.0, ge=0, description="Seconds SIGTERM waits for jobs in hand before cancelling them."
    )
    template_cache_size: int = Field(
        512, ge=1, description="Compiled template versions kept per worker process."
    )
    reconcile_grace_seconds: int = Field(
        300, ge=1, description="Age after which a message with no job in Redis is re-enqueued."
    )
    domain_recheck_hours: float = Field(
        6.0,
        gt=0,
        description="Sender domains' DNS records are re-verified this often (worker cron).",
    )
    schedule_lookahead_seconds: int = Field(
        60, ge=0, description="Scheduled sends due this soon are enqueued to run at send_at."
    )
