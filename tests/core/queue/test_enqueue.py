"""enqueue_many: many jobs in one round trip, run by a real arq worker, with enqueue's rules
(an id already queued or finished is skipped; a deferred job waits for its time)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker, func

from scaisend_core.models import utcnow
from scaisend_core.queue import JobBuffer, ProcessMessage, enqueue, enqueue_many
from scaisend_core.queue.contracts import EMAIL_PROCESS


async def test_jobs_enqueued_together_are_run_by_an_arq_worker(redis: ArqRedis) -> None:
    seen: list[tuple[str, int]] = []

    async def process_message(ctx: dict[str, Any], message_id: str, attempt: int) -> None:
        seen.append((message_id, attempt))

    added = await enqueue_many(redis, [ProcessMessage(message_id=f"msg_{i}") for i in range(3)])
    assert added == 3
    worker = Worker(
        functions=[func(process_message, name="process_message")],
        redis_pool=redis,
        queue_name=EMAIL_PROCESS,
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
    )
    await worker.main()  # burst: returns when the queue is empty (close() would shut our pool)
    assert sorted(seen) == [("msg_0", 0), ("msg_1", 0), ("msg_2", 0)]


async def test_an_id_already_queued_is_skipped(redis: ArqRedis) -> None:
    assert await enqueue(redis, ProcessMessage(message_id="msg_a"))
    added = await enqueue_many(
        redis, [ProcessMessage(message_id="msg_a"), ProcessMessage(message_id="msg_b")]
    )
    assert added == 1
    assert await redis.zcard(EMAIL_PROCESS) == 2


async def test_a_deferred_job_is_scored_at_its_time(redis: ArqRedis) -> None:
    due = utcnow() + timedelta(hours=1)
    await enqueue_many(redis, [(ProcessMessage(message_id="msg_later"), due)])
    score = await redis.zscore(EMAIL_PROCESS, "process_message:msg_later:0")
    assert score == round(due.timestamp() * 1000)
    assert await redis.pttl("arq:job:process_message:msg_later:0") > 3_600_000


async def test_a_job_buffer_flushes_in_one_call(redis: ArqRedis) -> None:
    buffer = JobBuffer()
    buffer.add(ProcessMessage(message_id="msg_x"))
    buffer.add(ProcessMessage(message_id="msg_y", attempt=2))
    await buffer.flush(redis)
    assert len(buffer) == 0
    queued = await redis.zrange(EMAIL_PROCESS, 0, -1)
    assert sorted(queued) == [b"process_message:msg_x:0", b"process_message:msg_y:2"]
