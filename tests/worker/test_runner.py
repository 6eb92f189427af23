"""`scaisend worker`: consumes both email:process and webhook:deliver, `--burst` drains them and
exits, SIGTERM lets the job in hand finish."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker, func

from scaisend_core.db import SessionFactory
from scaisend_core.models import MessageStatus, Tenant
from scaisend_core.queue import DeliverWebhook, ProcessMessage, enqueue_many
from scaisend_core.queue.contracts import EMAIL_PROCESS, SMTP_DELIVER, WEBHOOK_DELIVER
from scaisend_worker.runner import run_worker, serve
from tests.fixtures.messages import MessageFactory, worker_config
from tests.worker.support import message_row, queued

SCAISEND = os.path.join(os.path.dirname(sys.executable), "scaisend")


async def test_burst_drains_both_queues_and_returns(
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    test_env: dict[str, str],
) -> None:
    made = [await message_factory(tenant) for _ in range(3)]
    await enqueue_many(redis, [ProcessMessage(message_id=m.id) for m in made])
    await enqueue_many(redis, [DeliverWebhook(delivery_id="whd_01NOSUCHDELIVERY0000000000")])

    stats = await run_worker(worker_config(test_env), burst=True, metrics=False)

    assert stats.complete == 4
    assert stats.failed == 0
    assert await queued(redis, EMAIL_PROCESS) == []
    assert await queued(redis, WEBHOOK_DELIVER) == []
    assert len(await queued(redis, SMTP_DELIVER)) == 3


async def test_stopping_lets_the_job_in_hand_finish(redis: ArqRedis) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(ctx: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(0.5)
        finished.set()
        return "done"

    worker = Worker(
        functions=[func(slow, name="slow")], queue_name="test:slow", redis_pool=redis, handle_signals=False,
        poll_delay=0.01, keep_result=0,
    )  # fmt: skip
    await redis.enqueue_job("slow", _queue_name="test:slow")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve([worker], stop, shutdown_timeout=10))

    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(serving, 10)

    assert finished.is_set()
    assert worker.jobs_complete == 1
    assert await redis.zcard("test:slow") == 0


async def test_a_job_past_the_shutdown_timeout_is_put_back_on_its_queue(redis: ArqRedis) -> None:
    started = asyncio.Event()

    async def stuck(ctx: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    worker = Worker(
        functions=[func(stuck, name="stuck")], queue_name="test:stuck", redis_pool=redis, handle_signals=False,
        poll_delay=0.01, keep_result=0,
    )  # fmt: skip
    await redis.enqueue_job("stuck", _queue_name="test:stuck", _job_id="stuck-1")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve([worker], stop, shutdown_timeout=0.2))

    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(serving, 10)

    assert [j.decode() for j in await redis.zrange("test:stuck", 0, -1)] == ["stuck-1"]


def _env(test_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **test_env, "METRICS_PORT": "0"}


async def test_the_cli_burst_processes_queued_messages(
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
    test_env: dict[str, str],
) -> None:
    made = await message_factory(tenant)
    await enqueue_many(redis, [ProcessMessage(message_id=made.id)])

    process = await asyncio.create_subprocess_exec(
        SCAISEND, "worker", "--burst", env=_env(test_env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, output.decode()
    assert (await message_row(sessions, made.id)).status == MessageStatus.RENDERED


async def test_the_cli_exits_cleanly_on_sigterm(
    sessions: SessionFactory, redis: ArqRedis, test_env: dict[str, str]
) -> None:
    process = await asyncio.create_subprocess_exec(
        SCAISEND, "worker", env=_env(test_env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while b"Starting worker" not in await process.stdout.readline():
            pass

    process.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, output.decode()
