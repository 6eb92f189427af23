"""SMTP service settings: CoreSettings plus the knobs only `scaisend smtp` reads."""

from __future__ import annotations

from pydantic import Field

from scaisend_core.config import CoreSettings


class SmtpSettings(CoreSettings):
    metrics_host: str = Field("0.0.0.0", description="Address of the /metrics and /health server.")
    metrics_port: int = Field(
        9100, ge=0, le=65535, description="Port of the /metrics and /health server (0 = off)."
    )
    smtp_deliver_concurrency: int = Field(
        100, ge=1, description="Deliveries one SMTP process runs at once (arq max_jobs)."
    )
    smtp_poll_delay: float = Field(
        0.05, gt=0, description="Seconds between polls of the smtp:deliver queue when idle."
    )
    smtp_pool_idle_timeout: float = Field(
        30.0, gt=0, description="Seconds an idle pooled MX connection stays open."
    )
    smtp_pool_max_messages: int = Field(
        100, ge=1, description="Transactions on one MX connection before it is closed."
    )
    smtp_pool_probe_after: float = Field(
        5.0, ge=0, description="Idle seconds after which a pooled connection is NOOP-checked."
    )
    smtp_throttle_delay: int = Field(
        5, ge=1, description="Seconds before retrying recipients held back by a domain limit."
    )
    smtp_sender_domain_cache_ttl: float = Field(
        30.0, ge=0, description="Seconds a sender domain's keys and checks are cached per process."
    )
