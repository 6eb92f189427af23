"""Worker and SMTP pods expose /metrics and /health; queue depth is sampled from arq's sets."""

from __future__ import annotations

from datetime import timedelta

import httpx
from arq.connections import ArqRedis

from scaisend_core.metrics import QUEUE_DEFERRED, QUEUE_DEPTH, metrics_server, sample_queues
from scaisend_core.models import utcnow
from scaisend_core.queue import ProcessMessage, enqueue


async def test_metrics_endpoint_serves_prometheus_text_and_health() -> None:
    async with metrics_server("127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = await http.get("/metrics")
            health = await http.get("/health")
            missing = await http.get("/nope")
    assert metrics.status_code == 200
    assert "scaisend_queue_depth" in metrics.text
    assert health.json() == {"status": "healthy"}
    assert missing.status_code == 404


async def test_queue_depth_counts_waiting_jobs(redis: ArqRedis) -> None:
    for n in range(3):
        await enqueue(redis, ProcessMessage(message_id=f"msg_{n}"))
    await sample_queues(redis)
    assert QUEUE_DEPTH.labels("email:process")._value.get() == 3
    assert QUEUE_DEPTH.labels("smtp:deliver")._value.get() == 0


async def test_jobs_not_yet_due_are_counted_as_deferred(redis: ArqRedis) -> None:
    await enqueue(redis, ProcessMessage(message_id="msg_now"))
    await enqueue(
        redis, ProcessMessage(message_id="msg_later"), defer_until=utcnow() + timedelta(hours=1)
    )
    await sample_queues(redis)
    assert QUEUE_DEPTH.labels("email:process")._value.get() == 2
    assert QUEUE_DEFERRED.labels("email:process")._value.get() == 1
