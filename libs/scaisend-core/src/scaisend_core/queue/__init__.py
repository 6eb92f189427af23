"""Queue contracts and the enqueue helpers every service uses to talk through Redis."""

from scaisend_core.queue.contracts import (
    DeliverMessage,
    DeliverWebhook,
    Job,
    ProcessInbound,
    ProcessMessage,
)
from scaisend_core.queue.enqueue import JobBuffer, enqueue, enqueue_many

__all__ = [
    "DeliverMessage",
    "DeliverWebhook",
    "Job",
    "JobBuffer",
    "ProcessInbound",
    "ProcessMessage",
    "enqueue",
    "enqueue_many",
]
