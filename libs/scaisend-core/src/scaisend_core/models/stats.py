"""Daily aggregates per tenant, day and category ('' is the all-categories total)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import tenant_fk

METRICS = (
    "requests",
    "processed",
    "delivered",
    "deferred",
    "bounces",
    "bounce_drops",
    "blocks",
    "drops",
    "spam_reports",
    "spam_report_drops",
    "unsubscribes",
    "unsubscribe_drops",
    "invalid_emails",
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
)


class DailyStats(SQLModel, table=True):
    __tablename__ = "daily_stats"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "day", "category", name="uq_daily_stats_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = tenant_fk()
    day: date
    category: str = Field(default="", max_length=255)
    requests: int = 0
    processed: int = 0
    delivered: int = 0
    deferred: int = 0
    bounces: int = 0
    bounce_drops: int = 0
    blocks: int = 0
    drops: int = 0
    spam_reports: int = 0
    spam_report_drops: int = 0
    unsubscribes: int = 0
    unsubscribe_drops: int = 0
    invalid_emails: int = 0
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clicks: int = 0
