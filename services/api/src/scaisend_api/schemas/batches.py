"""Bodies of /v3/mail/batch and /v3/user/scheduled_sends (sendgrid-v3 §1.1)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ScheduledStatus = Literal["pause", "cancel"]


class BatchCreated(BaseModel):
    batch_id: str


class BatchStatus(BaseModel):
    batch_id: str
    status: ScheduledStatus | None = Field(description="Scheduled-send control, if any.")
    counts: dict[str, int] = Field(description="Message status -> number of messages.")
    total: int


class ScheduledSendCreate(BaseModel):
    batch_id: str = Field(min_length=1, max_length=64)
    status: ScheduledStatus


class ScheduledSendUpdate(BaseModel):
    status: ScheduledStatus


class ScheduledSend(BaseModel):
    batch_id: str
    status: ScheduledStatus
