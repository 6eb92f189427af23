"""`scaisend up` as a new user runs it: no DATABASE_URL or REDIS_URL, so SQLite and a private Redis
in a fresh data directory. Mail sent with the official `sendgrid` SDK from a domain nobody
verified is rendered, DKIM-signed with a key made on first use and captured as an .eml in the
outbox; SIGTERM and Ctrl-C stop everything including Redis, and a second start reuses the data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
import httpx
import pytest
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import From, Mail, To

from tests.fixtures.storage import free_port

ROOT = Path(__file__).resolve().parents[2]
SCAISEND = Path(sys.executable).parent / "scaisend"
SENDER = "hello@news.up-e2e.example"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
# What `scaisend up` must not inherit: the embedded defaults are under test, not the suite's
# MariaDB/Redis. PYTHONDONTWRITEBYTECODE off so the second start reuses the first's bytecode.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "STORAGE_DIR", "SECRET_KEY", "ENVIRONMENT",
                 "PUBLIC_BASE_URL", "PYTHONDONTWRITEBYTECODE")  # fmt: skip
pytestmark = pytest.mark.timeout(180)


@dataclass
class Up:
    """One running `scaisend up` process, its output files and its private Redis's pid."""

    process: subprocess.Popen[bytes]
    base: str
    stdout: Path
    stderr: Path

    @property
    def banner(self) -> str:
        return self.stdout.read_text()

    @property
    def logs(self) -> str:
        return self.stderr.read_text()

    def redis_pids(self) -> list[int]:
        return [pid for pid, name in _children(self.process.pid) if name == "redis-server"]

    def stop(self, sig: signal.Signals) -> int:
        """Send `sig` the way a user would: SIGTERM to the process, Ctrl-C to its whole group."""
        if sig == signal.SIGINT:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["SMTP_INBOUND_PORT"] = str(free_port())  # another `scaisend up` may hold 2525
    return env


def start(data_dir: Path, port: int, env: dict[str, str], run: str) -> Up:
    logs = data_dir.parent
    stdout, stderr = logs / f"{run}.out", logs / f"{run}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(SCAISEND), "up", "--data-dir", str(data_dir), "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
    up = Up(process, f"http://127.0.0.1:{port}", stdout, stderr)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scaisend up exited {process.returncode}:\n{up.logs}")
        try:
            if httpx.get(f"{up.base}/ready", timeout=1).status_code == 200:
                return up
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"scaisend up was not ready in {START_TIMEOUT:.0f}s:\n{up.logs}")


@pytest.fixture
def processes() -> Iterator[list[Up]]:
    """Whatever a failing test leaves running is killed (the whole group, Redis included)."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()


def test_up_sends_signs_captures_stops_and_restarts_on_the_same_data(
    data_dir: Path, environment: dict[str, str], processes: list[Up]
) -> None:
    port = free_port()
    first = start(data_dir, port, environment, "first")
    processes.append(first)
    key = _banner_value(first.banner, "live key")
    assert key.startswith("sg_live_")
    assert "test key:  sg_test_" in first.banner
    assert f"curl -sS -X POST http://localhost:{port}/v3/mail/send" in first.banner
    assert f"Bearer {key}" in first.banner
    bootstrap = (data_dir / "bootstrap.json").read_text()
    assert key not in bootstrap  # only the key prefixes are kept on disk
    redis_pids = first.redis_pids()
    assert len(redis_pids) == 1

    first_id = _send(first.base, key, "Hello from scaisend up")
    message = _wait_delivered(first.base, key, first_id)
    assert [e["event_type"] for e in message["events"]] == ["processed", "delivered"]
    assert message["from_email"] == SENDER
    dkim_record = _dkim_record(first.base, key)
    _assert_signed(data_dir / "outbox" / f"{first_id}.eml", dkim_record)

    second_id = _send(first.base, key, "Sent just before SIGTERM")
    assert first.stop(signal.SIGTERM) == 0
    _assert_gone(redis_pids, data_dir)
    logs = first.logs
    for service in ("api", "worker", "smtp"):
        assert f"{service:<6} | " in logs
    assert "ERROR" not in logs

    second = start(data_dir, port, environment, "second")
    processes.append(second)
    assert "live key" not in second.banner
    assert "created on the first start" in second.banner
    assert (data_dir / "bootstrap.json").read_text() == bootstrap
    assert _get(second.base, key, f"/v3/messages/{first_id}")["status"] == "delivered"
    _wait_delivered(second.base, key, second_id)  # nothing lost across the stop
    assert _dkim_record(second.base, key) == dkim_record  # the domain's key was kept
    _assert_signed(data_dir / "outbox" / f"{second_id}.eml", dkim_record)
    redis_pids = second.redis_pids()
    assert second.stop(signal.SIGINT) == 0
    _assert_gone(redis_pids, data_dir)
    assert "ERROR" not in second.logs


def test_a_service_that_cannot_start_stops_the_whole_process(
    data_dir: Path, environment: dict[str, str], processes: list[Up], tmp_path: Path
) -> None:
    """The API's port is taken: the process exits 1 naming the API, and Redis goes with it."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stdout, stderr = tmp_path / "crash.out", tmp_path / "crash.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [str(SCAISEND), "up", "--data-dir", str(data_dir), "--port", str(port)],
                env=environment, cwd=ROOT, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip
        processes.append(Up(process, "", stdout, stderr))
        assert process.wait(timeout=START_TIMEOUT) == 1
    logs = stderr.read_text()
    assert "service api stopped unexpectedly" in logs
    assert f"could not start on 127.0.0.1:{port}" in logs
    assert "stopped after a failure" in logs
    assert not (data_dir / "redis" / "redis.sock").exists()
    assert not _redis_serving(data_dir)


def _banner_value(banner: str, label: str) -> str:
    for line in banner.splitlines():
        if line.strip().startswith(f"{label}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {label!r} in the banner:\n{banner}")


def _send(base: str, key: str, subject: str) -> str:
    """Through the official SDK, only its host changed; the From domain was never verified."""
    client = SendGridAPIClient(api_key=key, host=base)
    mail = Mail(
        from_email=From(SENDER, "Up E2E"),
        to_emails=To("ada@example.com", "Ada"),
        subject=subject,
        html_content="<p>Hi <b>Ada</b></p>",
    )
    response = client.send(mail)
    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    assert isinstance(message_id, str)
    return message_id


def _get(base: str, key: str, path: str) -> dict[str, Any]:
    response = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_delivered(base: str, key: str, message_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        message = _get(base, key, f"/v3/messages/{message_id}")
        if message["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert message["status"] == "delivered", message
    [recipient] = message["recipients"]
    assert recipient["status"] == "delivered"
    assert recipient["smtp_response"].startswith("250 2.0.0 Captured to ")
    return message


def _dkim_record(base: str, key: str) -> tuple[str, str]:
    """(host, TXT value) of the DKIM record made on first use, as the domains API shows it."""
    [domain] = _get(base, key, "/api/admin/domains")["data"]
    assert (domain["domain"], domain["verified"]) == ("news.up-e2e.example", False)
    [record] = [r for r in domain["dns_records"] if r["name"] == "dkim"]
    assert record["host"] == "scaisend._domainkey.news.up-e2e.example"
    return record["host"], record["value"]


def _assert_signed(eml: Path, record: tuple[str, str]) -> None:
    data = eml.read_bytes()
    host, value = record

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return value.encode() if name.decode().rstrip(".") == host else None

    assert b"d=news.up-e2e.example" in data
    assert b"<p>Hi <b>Ada</b></p>" in data
    assert dkim.verify(data, dnsfunc=dnsfunc) is True
    tampered = data.replace(b"Hi <b>Ada</b>", b"Hi <b>Eve</b>")
    assert dkim.verify(tampered, dnsfunc=dnsfunc) is False


def _assert_gone(pids: list[int], data_dir: Path) -> None:
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"redis-server {pid} outlived scaisend up"
    assert not (data_dir / "redis" / "redis.sock").exists()
    assert not _redis_serving(data_dir)
    assert (data_dir / "redis" / "redis.rdb").exists()  # saved on the way down


def _children(parent: int) -> list[tuple[int, str]]:
    """(pid, name) of `parent`'s child processes, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if int(rest.split()[1]) == parent:
            found.append((int(entry.name), name))
    return found


def _redis_serving(data_dir: Path) -> bool:
    """Any redis-server on this machine still bound to this data directory's socket."""
    needle = str(data_dir / "redis" / "redis.sock").encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False
