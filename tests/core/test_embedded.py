"""`scaisend up`'s pieces in-process: the embedded defaults (explicit settings win), the banner,
the supervisor (a crash stops everyone, a stop drains, late failures count) and the private
Redis (the bundled server, persisted on stop)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from scaisend_core.embedded import (
    DataDir,
    FirstStart,
    PrivateRedis,
    QuietCron,
    banner,
    embedded_environment,
    supervise,
)


def test_defaults_fill_only_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "d")
    env = embedded_environment(data, 8123, {"SMTP_DELIVERY": "mx", "S3_BUCKET": "b"})
    assert env["DATABASE_URL"] == f"sqlite+aiosqlite:///{data.database}"
    assert env["SMTP_DELIVERY"] == "mx"
    assert env["SMTP_CAPTURE_DIR"] == str(data.outbox)
    assert env["PUBLIC_BASE_URL"] == "http://localhost:8123"
    assert "STORAGE_DIR" not in env  # S3 configured: no local storage default
    again = embedded_environment(data, 8123, {})
    assert again["SECRET_KEY"] == env["SECRET_KEY"]  # kept across starts
    assert len(env["SECRET_KEY"]) == 64
    assert data.secret_file.stat().st_mode & 0o777 == 0o600


def test_the_banner_explains_capture_mode_and_shows_keys_once(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    env = embedded_environment(data, 8000, {})
    first = FirstStart("tnt_1", "sg_live_" + "a" * 32, "sg_test_" + "b" * 32)
    text = banner(env, data, first)
    assert "any From domain is accepted" in text
    assert "SMTP_DELIVERY=mx" in text
    assert f"Bearer {first.live_key}" in text
    assert "curl -sS -X POST http://localhost:8000/v3/mail/send" in text
    later = banner(env, data, None)
    assert "sg_live_" not in later
    mx = banner({**env, "SMTP_DELIVERY": "mx"}, data, None)
    assert "any From domain" not in mx


async def test_a_crashed_service_stops_the_others() -> None:
    stopped: list[str] = []

    async def crashes(stop: asyncio.Event) -> None:
        await asyncio.sleep(0.01)
        raise OSError("port in use")

    async def waits(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.append("waits")

    assert await supervise({"api": crashes, "worker": waits}, asyncio.Event()) == 1
    assert stopped == ["waits"]


async def test_a_stop_lets_services_drain_and_exits_zero() -> None:
    stop = asyncio.Event()
    drained: list[str] = []

    async def drains(stop: asyncio.Event) -> None:
        await stop.wait()
        await asyncio.sleep(0.05)  # finishing a job in hand
        drained.append("done")

    asyncio.get_running_loop().call_later(0.02, stop.set)
    assert await supervise({"worker": drains, "smtp": drains}, stop) == 0
    assert drained == ["done", "done"]


async def test_a_failure_while_draining_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()

    async def fails_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        raise RuntimeError("lost Redis while finishing")

    asyncio.get_running_loop().call_later(0.02, stop.set)
    assert await supervise({"smtp": fails_on_stop}, stop) == 1
    assert "service smtp failed while stopping (RuntimeError" in caplog.text


def test_cron_chatter_is_filtered_but_message_jobs_are_not() -> None:
    def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("arq.worker", level, __file__, 1, message, None, None)

    quiet = QuietCron()
    assert not quiet.filter(record("  0.01s → cron:wake_due_webhooks()"))
    assert quiet.filter(record("  0.01s → process_message:msg_1:0:process_message()"))
    assert quiet.filter(record("cron:reconcile failed", logging.ERROR))


async def test_the_private_redis_serves_on_its_socket_and_saves_on_stop(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    server = PrivateRedis(data)
    await server.start()
    try:
        client = aioredis.from_url(server.url)
        assert await client.set("k", "v")
        info = await client.info("server")
        await client.aclose()
    finally:
        await server.stop()
    assert str(info["redis_version"]).startswith("6.")  # the bundled server, not the system's
    assert not server.socket.exists()
    assert (data.redis_dir / "redis.rdb").exists()
    again = PrivateRedis(data)
    await again.start()
    try:
        client = aioredis.from_url(again.url)
        assert await client.get("k") == b"v"
        await client.aclose()
    finally:
        await again.stop()


async def test_redis_dying_under_the_services_stops_everything_naming_redis(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateRedis(DataDir(tmp_path))
    await server.start()
    stopped: list[str] = []

    async def service(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.append("service")

    async def kill_redis() -> None:
        await asyncio.sleep(0.05)
        process = server._process
        assert process is not None
        process.kill()

    try:
        killer = asyncio.create_task(kill_redis())
        code = await supervise({"worker": service, "redis": server.watch}, asyncio.Event())
        await killer
    finally:
        await server.stop()
    assert code == 1
    assert stopped == ["service"]
    assert "service redis stopped unexpectedly (RuntimeError: the private Redis exited" in (
        caplog.text
    )


async def test_the_redis_watch_ends_quietly_on_stop(tmp_path: Path) -> None:
    server = PrivateRedis(DataDir(tmp_path))
    await server.start()
    stop = asyncio.Event()
    try:
        asyncio.get_running_loop().call_later(0.05, stop.set)
        assert await supervise({"redis": server.watch}, stop) == 0
    finally:
        await server.stop()


async def test_a_socket_file_left_by_a_killed_run_is_not_taken_for_a_ready_redis(
    tmp_path: Path,
) -> None:
    data = DataDir(tmp_path)
    data.redis_dir.mkdir(parents=True)
    (data.redis_dir / "redis.sock").write_text("stale")
    server = PrivateRedis(data)
    await server.start()
    try:
        client = aioredis.from_url(server.url)
        assert await client.ping()
        await client.aclose()
    finally:
        await server.stop()


async def test_cancelling_the_supervisor_cancels_every_service() -> None:
    stop = asyncio.Event()
    cancelled: list[str] = []

    async def slow_drain(stop: asyncio.Event) -> None:
        try:
            await stop.wait()
            await asyncio.sleep(60)  # a drain nobody wants to wait for
        except asyncio.CancelledError:
            cancelled.append("worker")
            raise

    supervisor = asyncio.create_task(supervise({"worker": slow_drain}, stop))
    await asyncio.sleep(0.02)
    stop.set()  # first signal
    await asyncio.sleep(0.02)
    supervisor.cancel()  # second signal
    with pytest.raises(asyncio.CancelledError):
        await supervisor
    assert cancelled == ["worker"]
