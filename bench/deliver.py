"""Benchmark SMTP outbound delivery: messages per second from `smtp:deliver` to an aiosmtpd sink
on loopback through one SMTP process (the real `run_smtp`: arq worker, MX lookup over a loopback
DNS server, DKIM signing, pooled connections, events and state in MariaDB), with 5 KB messages
to 10 recipient domains sharing one MX host. Then DKIM signing time per message next to a raw
RSA-2048 sign of the same message's hash with `cryptography`, interleaved in the same run.

    .venv/bin/python bench/deliver.py [--messages 3000] [--concurrency 100] [--tls]

Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on 127.0.0.1:6379, as the tests do.
It creates and drops its own database and claims a Redis db number the way the tests do. The
sink runs in its own process so its CPU is not the SMTP process's."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage as Mime
from email.policy import SMTP
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _env import database, free_port, redis_db  # noqa: E402

SENDER = "mail.bench.test"
MX_HOST = "mx.sink.bench.test"
DOMAINS = [f"d{i}.bench.test" for i in range(10)]
SERVERS = {"mariadbd": "mariadb", "mysqld": "mariadb", "redis-server": "redis"}
TARGETS = {"msgs_per_s": 500.0, "dkim_ratio": 1.5}
WATCH_EVERY = 0.005  # seconds between looks at the sink's counter


# --- environment --------------------------------------------------------------------------------


@contextmanager
def dns_server() -> Iterator[str]:
    """Every bench domain's MX is one sink host on 127.0.0.1; the sender's DKIM record too."""
    from dnslib.server import DNSLogger, DNSServer

    from tests.fixtures.dns import Zone, ZoneResolver

    zone = Zone()
    for domain in DOMAINS:
        zone.mx(domain, (10, MX_HOST))
    zone.a(MX_HOST, "127.0.0.1")
    port = free_port()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    servers = [DNSServer(ZoneResolver(zone), address="127.0.0.1", port=port, tcp=tcp,
                         logger=quiet) for tcp in (False, True)]  # fmt: skip
    for server in servers:
        server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for server in servers:
            server.stop()


# --- the sink (own process) ---------------------------------------------------------------------


def sink_main(port: int, tls: bool, counter: Any, ready: Any) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_EHLO(  # noqa: N802 (aiosmtpd hook name)
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            """aiosmtpd reads pipelined commands in order but does not say so; a production MX
            (Postfix, Exim, Gmail's) advertises PIPELINING, so the sink does too."""
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook name)
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 OK"

    kwargs: dict[str, Any] = {}
    if tls:
        import trustme

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
        kwargs["tls_context"] = context
    # uvloop, as a production MX would run something faster than a stock asyncio loop: the sink
    # stands in for a remote server and should cost the shared cores as little as it can.
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, loop=uvloop.new_event_loop(),
                            **kwargs)  # fmt: skip
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


@contextmanager
def sink(port: int, tls: bool) -> Iterator[tuple[Any, int]]:
    """The sink's delivery counter and its pid (to read its CPU time)."""
    counter, ready = multiprocessing.Value("i", 0), multiprocessing.Event()
    process = multiprocessing.Process(target=sink_main, args=(port, tls, counter, ready))
    process.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the sink did not start")
        assert process.pid is not None
        yield counter, process.pid
    finally:
        process.terminate()
        process.join(10)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def servers_cpu() -> dict[str, float]:
    """CPU seconds used so far by the MariaDB and Redis servers on this machine (by name)."""
    used: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        try:
            name = (proc / "comm").read_text().strip()
            if name in SERVERS:
                used[SERVERS[name]] = used.get(SERVERS[name], 0.0) + process_cpu(int(proc.name))
        except (OSError, ValueError):
            continue  # not a process, or it exited
    return used


# --- seeding ------------------------------------------------------------------------------------


def five_kb_mime(message_id: str, to: str) -> bytes:
    paragraph = ("Hello Ada, your order #4242 has shipped and is on its way. Track it any time "
                 "from your account page; we will email you again when it is delivered. ")  # fmt: skip
    mime = Mime(policy=SMTP)
    mime["From"] = f"Acme Orders <orders@{SENDER}>"
    mime["To"] = to
    mime["Subject"] = "Your order #4242 has shipped"
    mime["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    mime["Message-ID"] = f"<{message_id}@mta.bench.test>"
    mime["X-ScaiSend-Message-Id"] = message_id
    mime.set_content(paragraph * 12)
    mime.add_alternative("<html><body>" + f"<p>{paragraph}</p>" * 12 + "</body></html>",
                         subtype="html")  # fmt: skip
    return mime.as_bytes()


async def seed(database_url: str, storage_dir: str, count: int) -> tuple[list[str], bytes]:
    """Migrate; a tenant, a sender domain with a real key, `count` rendered messages."""
    from scaisend_core.crypto import SecretBox
    from scaisend_core.db import create_engine_for_url, create_session_factory
    from scaisend_core.migrate import upgrade
    from scaisend_core.models import EmailMessage, MessageRecipient
    from scaisend_core.repositories.sender_domains import create_domain
    from scaisend_core.repositories.tenants import create_tenant
    from tests.fixtures.environment import TEST_SECRET_KEY

    engine = create_engine_for_url(database_url)
    await upgrade(engine)
    async with create_session_factory(engine)() as session:
        tenant = await create_tenant(session, "Bench Inc")
        domain = await create_domain(session, SecretBox(TEST_SECRET_KEY), tenant_id=tenant.id,
                                     domain=SENDER, return_path_host=f"bounces.{SENDER}")  # fmt: skip
        domain.dns_checks = {"return_path": {"valid": True}}
        await session.commit()
        messages, recipients, body = await rendered(tenant.id, storage_dir, count)
        for chunk in range(0, count, 500):
            part = slice(chunk, chunk + 500)
            await session.exec(insert(EmailMessage), params=_rows(EmailMessage, messages[part]))
            await session.exec(
                insert(MessageRecipient), params=_rows(MessageRecipient, recipients[part])
            )
        await session.commit()
    await engine.dispose()
    return [m["id"] for m in messages], body


async def rendered(
    tenant_id: str, storage_dir: str, count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bytes]:
    """Rows of `count` rendered messages, one recipient each, MIME already in storage."""
    from scaisend_core.ids import new_id
    from scaisend_core.models import utcnow
    from scaisend_core.storage import LocalStorage

    storage, now = LocalStorage(storage_dir), utcnow()
    messages, recipients, body = [], [], b""
    for n in range(count):
        message_id, to = new_id("msg"), f"user{n}@{DOMAINS[n % len(DOMAINS)]}"
        body = five_kb_mime(message_id, to)
        key = f"mime/{tenant_id}/{message_id}.eml"
        await storage.put(key, body)
        messages.append(dict(id=message_id, tenant_id=tenant_id, status="rendered",
                             from_email=f"orders@{SENDER}", message_id_header=f"<{message_id}>",
                             mime_key=key, mime_size=len(body), processed_at=now))  # fmt: skip
        recipients.append(dict(id=new_id("rcp"), tenant_id=tenant_id, message_id=message_id,
                               kind="to", email=to))  # fmt: skip
    return messages, recipients, body


def _rows(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete each row with the model's defaults (insert() with params bypasses them)."""
    return [model(**row).model_dump() for row in rows]


async def enqueue_all(redis_url: str, ids: list[str]) -> None:
    from scaisend_core.queue import DeliverMessage, enqueue
    from scaisend_core.queue.connection import create_arq_pool

    pool = await create_arq_pool(redis_url)
    for message_id in ids:
        await enqueue(pool, DeliverMessage(message_id=message_id))
    await pool.aclose()


# --- the measurements ---------------------------------------------------------------------------


async def deliver_all(
    env: dict[str, str], delivered: Any, total: int, profile: str | None = None
) -> tuple[Span, Span | None]:
    """Run the SMTP process's outbound side in burst mode: the whole run, and the delivery
    window (`watch_sink`) if the sink got every message. With `profile`, py-spy samples this
    process for the delivery only (raw collapsed stacks)."""
    from scaisend_core.config import load_settings
    from scaisend_smtp.runner import run_smtp
    from scaisend_smtp.settings import SmtpSettings

    os.environ.update(env)
    settings = load_settings(SmtpSettings)
    marks: list[tuple[int, float, float]] = []
    with spy(profile):
        start = time.perf_counter(), cpu_seconds()
        watcher = asyncio.create_task(watch_sink(delivered, total, marks))
        await run_smtp(settings, asyncio.Event(), inbound=False, burst=True, metrics=False)
        end = time.perf_counter(), cpu_seconds()
        watcher.cancel()
    run = Span(total, end[0] - start[0], end[1] - start[1])
    if len(marks) < 2:
        return run, None
    (first, t0, c0), (last, t1, c1) = marks
    return run, Span(last - first, t1 - t0, c1 - c0)


async def watch_sink(delivered: Any, total: int, marks: list[tuple[int, float, float]]) -> None:
    """(sink count, time, CPU) when the sink has its first message and when it has them all:
    the delivery window, without the process's start-up (settings, keys, pools, gc) and
    shut-down. Polled every few ms (at ~10 us a look, well under 1% of the CPU measured)."""
    for goal in (1, total):
        while delivered.value < goal:  # noqa: ASYNC110 (a counter in another process: no event)
            await asyncio.sleep(WATCH_EVERY)
        marks.append((delivered.value, time.perf_counter(), cpu_seconds()))


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Span:
    messages: int
    wall: float
    cpu: float

    def line(self, name: str) -> str:
        return (f"{name}: {self.wall:.2f} s wall, {self.cpu:.2f} s CPU -> "
                f"{self.messages / self.wall:.0f} msg/s ({self.cpu / self.messages * 1000:.2f} "
                f"ms CPU per message)")  # fmt: skip


@contextmanager
def spy(output: str | None) -> Iterator[None]:
    """py-spy on this process while the block runs (its own CPU is another process's)."""
    if output is None:
        yield
        return
    command = [shutil.which("py-spy") or os.path.expanduser("~/.local/bin/py-spy"), "record", "--pid", str(os.getpid()),
               "--format", "raw", "--rate", "250", "--nonblocking", "-o", output]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        time.sleep(1.0)  # py-spy attaches
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            proc.wait(30)


async def check_outcome(database_url: str, count: int) -> dict[str, int]:
    from scaisend_core.db import create_engine_for_url

    engine = create_engine_for_url(database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, COUNT(*) FROM email_messages GROUP BY status")
        )
        result = {status: n for status, n in rows}
    await engine.dispose()
    return result


def dkim_ratio(message: bytes, rounds: int = 7, per_round: int = 200) -> tuple[float, float]:
    """Median µs per DKIM signature (ours) and per raw RSA-2048 sign of the message's SHA-256,
    measured in alternating rounds so machine noise hits both alike."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    from scaisend_core import dkim_keys
    from scaisend_core.signing import DkimKey, SigningMaterial
    from scaisend_smtp.outbound.dkim import crlf, sign

    pair = dkim_keys.generate_rsa()
    key = dkim_keys.load_private_key(pair.private_pem)
    material = SigningMaterial("dom", SENDER, (DkimKey("scaisend", "rsa-sha256", key),))
    body = crlf(message)
    ours, raw = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            sign(body, material, 1_700_000_000)
        ours.append((time.perf_counter() - start) / per_round * 1e6)
        start = time.perf_counter()
        for _ in range(per_round):
            key.sign(
                hashlib.sha256(body).digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
            )  # type: ignore[union-attr]
        raw.append((time.perf_counter() - start) / per_round * 1e6)
    return statistics.median(ours), statistics.median(raw)


def raw_rsa_cpu_ms(rounds: int = 300) -> float:
    """CPU milliseconds of one raw RSA-2048 sign: the unit that makes CPU per message
    comparable across runs on a machine whose speed changes with the load on it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    from scaisend_core import dkim_keys

    key = dkim_keys.load_private_key(dkim_keys.generate_rsa().private_pem)
    digest = hashlib.sha256(b"unit").digest()
    start = time.process_time()
    for _ in range(rounds):
        key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))  # type: ignore[union-attr]
    return (time.process_time() - start) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--tls", action="store_true", help="the sink offers STARTTLS")
    parser.add_argument("--profile", metavar="PATH",
                        help="py-spy the delivery into PATH (raw collapsed stacks)")  # fmt: skip
    args = parser.parse_args()

    with ExitStack() as stack:
        database_url = stack.enter_context(database())
        redis_url = stack.enter_context(redis_db())
        nameserver = stack.enter_context(dns_server())
        storage_dir = stack.enter_context(tempfile.TemporaryDirectory())
        port = free_port()
        delivered, sink_pid = stack.enter_context(sink(port, args.tls))
        ids, sample = asyncio.run(seed(database_url, storage_dir, args.messages))
        asyncio.run(enqueue_all(redis_url, ids))
        env = {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "STORAGE_DIR": storage_dir,
            "SECRET_KEY": "test-secret-key-" + "0123456789abcdef" * 2, "ENVIRONMENT": "test",
            "DNS_NAMESERVERS": nameserver, "SMTP_MX_PORT": str(port), "METRICS_PORT": "0",
            "EHLO_HOSTNAME": "mta.bench.test", "INBOUND_DOMAIN": "bounces.bench.test",
            "SMTP_DELIVER_CONCURRENCY": str(args.concurrency), "LOG_LEVEL": "WARNING",
        }  # fmt: skip
        sink_before, servers_before = process_cpu(sink_pid), servers_cpu()
        # uvloop: the loop `scaisend smtp` runs on
        run, window = uvloop.run(deliver_all(env, delivered, args.messages, args.profile))
        sink_cpu = process_cpu(sink_pid) - sink_before
        servers = {k: v - servers_before.get(k, 0.0) for k, v in servers_cpu().items()}
        load = os.getloadavg()
        outcome = asyncio.run(check_outcome(database_url, args.messages))
        ours, raw = dkim_ratio(sample)
        rsa_ms = raw_rsa_cpu_ms()

    wall = run.wall
    print(f"messages: {args.messages} x {len(sample)} bytes to {len(DOMAINS)} domains on one MX "
          f"({'STARTTLS' if args.tls else 'plain'}), concurrency {args.concurrency}")  # fmt: skip
    print(f"sink received: {delivered.value}; message states: {outcome}; sink CPU "
          f"{sink_cpu:.2f} s ({sink_cpu / wall * 100:.0f}% of a core); load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print("other processes during delivery (CPU s, % of a core): " + ", ".join(
        f"{name} {used:.2f} s {used / wall * 100:.0f}%" for name, used in sorted(servers.items())
    ))  # fmt: skip
    print(run.line("delivery, whole run") + f"; target >= {TARGETS['msgs_per_s']:.0f}")
    if window is not None:  # what the target is about: messages moving, not the start-up
        print(window.line("delivery window (sink's first to last message)"))
    steady = window or run
    per_message = steady.cpu / steady.messages * 1000
    print(f"CPU per message = {per_message / rsa_ms:.1f} raw RSA-2048 signs ({rsa_ms:.3f} ms CPU "
          f"each in this run); one busy core would do {steady.messages / steady.cpu:.0f} msg/s")  # fmt: skip
    print(f"DKIM sign: {ours:.0f} µs vs raw RSA-2048 sign {raw:.0f} µs -> {ours / raw:.2f}x; "
          f"target <= {TARGETS['dkim_ratio']}x")  # fmt: skip


if __name__ == "__main__":
    main()
