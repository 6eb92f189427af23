"""Prometheus metrics shared by the services, and the small HTTP endpoint worker and SMTP pods
expose (`/metrics`, `/health`) on METRICS_PORT."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from arq.connections import ArqRedis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from scaisend_core.queue.contracts import QUEUES

QUEUE_DEPTH = Gauge("scaisend_queue_depth", "Jobs waiting in a queue", ["queue"])
QUEUE_DEFERRED = Gauge(
    "scaisend_queue_deferred",
    "Jobs in a queue that are not due yet (retries backing off, scheduled sends)",
    ["queue"],
)
QUEUE_OLDEST_AGE = Gauge(
    "scaisend_queue_oldest_age_seconds", "Age of the oldest due job in a queue", ["queue"]
)
JOB_DURATION = Histogram(
    "scaisend_job_duration_seconds", "Job run time", ["job", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
SENDS_ACCEPTED = Counter("scaisend_sends_accepted_total", "Messages accepted by the API", ["mode"])
DELIVERIES = Counter(
    "scaisend_smtp_deliveries_total", "SMTP delivery outcomes per recipient", ["result", "domain"]
)
SMTP_POOL_SIZE = Gauge("scaisend_smtp_pool_connections", "Open pooled SMTP connections", ["host"])
WEBHOOK_DELIVERIES = Counter(
    "scaisend_webhook_deliveries_total", "Webhook delivery attempts", ["kind", "outcome"]
)
MESSAGE_EVENTS = Counter(
    "scaisend_message_events_total", "Events recorded on message timelines", ["event", "tenant_id"]
)
INBOUND_MESSAGES = Counter(
    "scaisend_inbound_messages_total", "Inbound DSN/ARF messages", ["kind", "outcome"]
)
INBOUND_REQUEUED = Counter(
    "scaisend_inbound_requeued_total",
    "Stored inbound messages queued again by the sweep because their processing job was lost",
)


async def sample_queues(redis: ArqRedis, queues: Iterable[str] = QUEUES) -> None:
    """arq keeps each queue as a sorted set scored by the time a job is due."""
    seconds, microseconds = await redis.time()
    # Rounded, not truncated: arq scores a job due now with round(time() * 1000), so a job
    # enqueued a moment earlier in the same millisecond could score one above a truncated now
    # and be counted as deferred.
    loop_now_ms = round(seconds * 1000 + microseconds / 1000)
    for queue in queues:
        QUEUE_DEPTH.labels(queue).set(await redis.zcard(queue))
        QUEUE_DEFERRED.labels(queue).set(await redis.zcount(queue, f"({loop_now_ms}", "+inf"))
        oldest = await redis.zrange(queue, 0, 0, withscores=True)
        age = max(0.0, (loop_now_ms - oldest[0][1]) / 1000) if oldest else 0.0
        QUEUE_OLDEST_AGE.labels(queue).set(age)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), 5)
        path = request.split(b" ")[1] if request.count(b" ") >= 2 else b"/"
        if path.startswith(b"/metrics"):
            status, body, ctype = b"200 OK", generate_latest(), CONTENT_TYPE_LATEST.encode()
        elif path.startswith(b"/health"):
            status, body, ctype = b"200 OK", b'{"status":"healthy"}', b"application/json"
        else:
            status, body, ctype = b"404 Not Found", b"not found", b"text/plain"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
            + body
        )  # fmt: skip
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def metrics_server(host: str, port: int) -> AsyncIterator[asyncio.Server]:
    """Serve /metrics and /health for a process without its own HTTP server (port 0 = off)."""
    server = await asyncio.start_server(_serve, host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()
