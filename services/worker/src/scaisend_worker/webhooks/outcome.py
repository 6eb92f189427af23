"""What an attempt does to a delivery (docs: tutorials/webhooks-deep-dive): success, or a retry
after 60 s, 5 min, 15 min, 1 h and 2 h, then `failed`; each attempt is logged on the row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scaisend_core.models import DeliveryStatus
from scaisend_core.repositories.webhook_deliveries import AttemptRecord, ClaimedDelivery
from scaisend_core.webhook_sender import PostResult

RETRY_DELAYS = (60, 300, 900, 3600, 7200)  # seconds after attempts 1..5
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = 10  # consecutive failed attempts across deliveries disable the endpoint
LOG_SNIPPET = 256  # response bytes kept per attempt in the log (last_response keeps more)


def log_entry(
    attempt: int, at: datetime, result: PostResult, batch_id: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": attempt,
        "at": at.isoformat(),
        "status_code": result.status_code,
        "response": result.response[:LOG_SNIPPET],
        "error": result.error,
        "duration_ms": result.duration_ms,
    }
    if batch_id is not None:
        entry["batch_id"] = batch_id
    return entry


def after_attempt(
    delivery: ClaimedDelivery, result: PostResult, now: datetime, batch_id: str | None = None
) -> AttemptRecord:
    """The delivery's state once `result` is known. A manual redeliver of a finished delivery
    gets this one attempt; a pending one continues its schedule."""
    attempts = delivery.attempts + 1
    log = [*delivery.attempt_log, log_entry(attempts, now, result, batch_id)]
    if result.ok:
        status, next_at, delivered = DeliveryStatus.SUCCEEDED, None, now
    elif attempts >= MAX_ATTEMPTS:
        status, next_at, delivered = DeliveryStatus.FAILED, None, None
    else:
        status, delivered = DeliveryStatus.PENDING, None
        next_at = now + timedelta(seconds=RETRY_DELAYS[attempts - 1])
    return AttemptRecord(
        delivery_id=delivery.id,
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        status_code=result.status_code,
        response=result.response or None,
        error=result.error,
        attempt_log=log,
        delivered_at=delivered,
    )


def undeliverable(delivery: ClaimedDelivery, reason: str, now: datetime) -> AttemptRecord:
    """A delivery that can never be sent (its event row is gone): failed without a request."""
    result = PostResult(None, "", reason, 0)
    record = after_attempt(delivery, result, now)
    return AttemptRecord(
        delivery_id=record.delivery_id,
        status=DeliveryStatus.FAILED,
        attempts=record.attempts,
        next_attempt_at=None,
        status_code=None,
        response=None,
        error=reason,
        attempt_log=record.attempt_log,
        delivered_at=None,
    )
