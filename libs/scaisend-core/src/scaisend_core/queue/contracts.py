"""One pydantic class per job: the only messages services exchange besides database rows.

arq enqueues by bare string; naming the job and queue here, once, means a typo cannot create
a job that no worker runs. Job ids are deterministic so enqueueing twice is a no-op.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

EMAIL_PROCESS = "email:process"
SMTP_DELIVER = "smtp:deliver"
WEBHOOK_DELIVER = "webhook:deliver"
SMTP_INBOUND = "smtp:inbound"
QUEUES = (EMAIL_PROCESS, SMTP_DELIVER, WEBHOOK_DELIVER, SMTP_INBOUND)


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_name: ClassVar[str]
    queue_name: ClassVar[str]

    def job_id(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define its deterministic job id")


class ProcessMessage(Job):
    """API -> worker: render, track and build the MIME of one message."""

    job_name: ClassVar[str] = "process_message"
    queue_name: ClassVar[str] = EMAIL_PROCESS
    message_id: str
    attempt: int = 0

    def job_id(self) -> str:
        return f"{self.job_name}:{self.message_id}:{self.attempt}"


class DeliverMessage(Job):
    """Worker -> SMTP: deliver one rendered message (MIME in object storage under mime_key)."""

    job_name: ClassVar[str] = "deliver_message"
    queue_name: ClassVar[str] = SMTP_DELIVER
    message_id: str
    attempt: int = 0

    def job_id(self) -> str:
        return f"{self.job_name}:{self.message_id}:{self.attempt}"


class DeliverWebhook(Job):
    """Anyone -> worker: POST one webhook delivery row (or one SendGrid batch) to its URL."""

    job_name: ClassVar[str] = "deliver_webhook"
    queue_name: ClassVar[str] = WEBHOOK_DELIVER
    delivery_id: str
    attempt: int = 0
    endpoint_id: str | None = None  # spares the worker a lookup; not part of the job id

    def job_id(self) -> str:
        return f"{self.job_name}:{self.delivery_id}:{self.attempt}"


class ProcessInbound(Job):
    """SMTP inbound listener -> SMTP inbound processor: parse a stored DSN or ARF report."""

    job_name: ClassVar[str] = "process_inbound"
    queue_name: ClassVar[str] = SMTP_INBOUND
    storage_key: str

    def job_id(self) -> str:
        return f"{self.job_name}:{self.storage_key}"
