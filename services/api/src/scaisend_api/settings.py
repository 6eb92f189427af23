"""API service settings: CoreSettings plus the HTTP server's own knobs."""

from __future__ import annotations

from pydantic import Field

from scaisend_core.config import CoreSettings


class ApiSettings(CoreSettings):
    api_host: str = Field("0.0.0.0", description="Address `scaisend serve` binds.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `scaisend serve` binds.")
    api_workers: int = Field(1, ge=1, description="uvicorn worker processes.")
    api_max_body_bytes: int = Field(
        31_457_280, gt=0, description="Largest request body accepted (SendGrid: 30 MB)."
    )
    api_key_last_used_flush_seconds: float = Field(
        10.0, gt=0, description="How often batched last_used_at updates are written."
    )
