"""Benchmark webhook delivery: events per second from one `scaisend worker` process to a loopback
receiver running in its own process.

1. ScaiSend endpoints: one Standard-Webhooks-signed POST per event; events are recorded in
   batches of 500 the way emitters record them, each batch waking the endpoint with one
   `deliver_webhook` job on `webhook:deliver`.
2. The SendGrid Event Webhook: ECDSA-signed JSON arrays, batched by the every-second cron.
3. A receiver that never answers next to a healthy one: the dead endpoint may hold at most its
   concurrency cap of requests; the healthy one keeps delivering.

Each phase seeds its events while no worker runs, then starts `scaisend worker`; rates are
taken from the receiver's clock (first to last request), so process start-up is not counted.
The worker's CPU time per event is reported too (from /proc, over the same span): on a shared
machine it moves less than the rate. The baseline is a bare httpx client (its default anyio
transport) posting envelope-sized bodies to the same receiver.

    .venv/bin/python bench/webhooks.py [--events 3000] [--batch-events 20000]

Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on 127.0.0.1:6379, as the tests do.
It creates and drops its own database and claims a Redis db number the way the tests do."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _env import database, redis_db  # noqa: E402

SECRET_KEY = "bench-secret-key-" + "0123456789abcdef" * 2
TARGET_EVENTS_PER_SECOND = 1000.0
CAP = 10  # WebhookOptions.endpoint_concurrency


# --- infrastructure ----------------------------------------------------------------------------


# --- the receiver (own process): a bare HTTP/1.1 server that counts -----------------------------


class _Stats:
    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}

    def path(self, name: str) -> dict[str, Any]:
        return self.paths.setdefault(
            name, {"requests": 0, "events": 0, "first": None, "last": None, "in_flight": 0,
                   "max_in_flight": 0},
        )  # fmt: skip


def receiver_main(port: int, ready: Any) -> None:
    stats = _Stats()

    class Http(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer, self.holding = transport, b"", None

        def connection_lost(self, exc: Exception | None) -> None:
            if self.holding is not None:
                stats.path(self.holding)["in_flight"] -= 1

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head = self.buffer[:end].decode("latin-1").split("\r\n")
                length = next(
                    (int(h.split(":")[1]) for h in head if h.lower().startswith("content-length:")),
                    0,
                )
                if len(self.buffer) < end + 4 + length:
                    return
                body = self.buffer[end + 4 : end + 4 + length]
                self.buffer = self.buffer[end + 4 + length :]
                self.request(head[0].split(" ")[1], body)

        def request(self, path: str, body: bytes) -> None:
            if path == "/stats":
                payload = orjson.dumps(stats.paths)
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                return
            entry = stats.path(path)
            now = time.monotonic()
            entry["requests"] += 1
            entry["events"] += body.count(b'"sg_event_id"') or 1
            entry["first"] = entry["first"] or now
            entry["last"] = now
            if path.startswith("/dead"):  # never answer: hold the connection
                self.holding = path
                entry["in_flight"] += 1
                entry["max_in_flight"] = max(entry["max_in_flight"], entry["in_flight"])
                return
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


@contextmanager
def receiver(port: int) -> Iterator[str]:
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=receiver_main, args=(port, ready), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the receiver did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)


def receiver_stats(base: str) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = httpx.get(f"{base}/stats").json()
    return stats


# --- seeding ------------------------------------------------------------------------------------


async def seed(
    database_url: str, redis_url: str, endpoints: list[tuple[str, str]], events: int
) -> None:
    """A tenant with the given (kind, url) endpoints and `events` events recorded the way every
    emitter records them (deliveries in the same transaction, jobs enqueued after commit)."""
    from scaisend_core.crypto import SecretBox
    from scaisend_core.db import create_engine_for_url, create_session_factory
    from scaisend_core.events import EventType
    from scaisend_core.ids import new_id
    from scaisend_core.models import EmailMessage, WebhookEndpoint
    from scaisend_core.queue import JobBuffer
    from scaisend_core.queue.connection import create_arq_pool
    from scaisend_core.repositories.events import NewEvent, record_events
    from scaisend_core.repositories.tenants import create_tenant
    from scaisend_core.webhook_signing import new_ecdsa_key_pair, new_signing_secret, secret_context

    box = SecretBox(SECRET_KEY)
    engine = create_engine_for_url(database_url)
    pool = await create_arq_pool(redis_url)
    async with create_session_factory(engine)() as session:
        tenant = await create_tenant(session, f"Bench {secrets.token_hex(2)}")
        for kind, url in endpoints:
            row = WebhookEndpoint(id=new_id("wh"), tenant_id=tenant.id, kind=kind, url=url,
                                  enabled_events=["*"] if kind == "scaisend" else ["delivered"])  # fmt: skip
            if kind == "scaisend":
                context = secret_context(row.id, "signing_secret")
                row.signing_secret = box.encrypt(new_signing_secret(), context=context)
            else:
                pair = new_ecdsa_key_pair()
                row.signed, row.ecdsa_public_key = True, pair.public_key
                context = secret_context(row.id, "ecdsa_private_key")
                row.ecdsa_private_key = box.encrypt(pair.private_pem, context=context)
            session.add(row)
        message = EmailMessage(id=new_id("msg"), tenant_id=tenant.id, from_email="o@bench.test",
                               message_id_header="<m@bench.test>", categories=["orders"],
                               custom_args={"order": "4242"})  # fmt: skip
        session.add(message)
        await session.commit()
        for start in range(0, events, 500):
            jobs = JobBuffer()
            batch = [NewEvent(tenant.id, EventType.DELIVERED, message.id, f"u{n}@example.com",
                              {"smtp_response": "250 2.0.0 OK"})
                     for n in range(start, min(start + 500, events))]  # fmt: skip
            await record_events(session, batch, jobs)
            await session.commit()
            await jobs.flush(pool)
    await pool.aclose()
    await engine.dispose()


async def pending(database_url: str, url: str) -> int:
    """Pending deliveries of the endpoint at `url`."""
    from scaisend_core.db import create_engine_for_url

    engine = create_engine_for_url(database_url)
    async with engine.connect() as conn:
        count = (await conn.execute(text(
            "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
            " ON e.id = d.endpoint_id WHERE d.status = 'pending' AND e.url = :url"),
            {"url": url})).scalar_one()  # fmt: skip
    await engine.dispose()
    return int(count)


# --- the worker (own process) -------------------------------------------------------------------


@contextmanager
def worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/scaisend"), "worker"], env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.send_signal(signal.SIGKILL)  # a dead receiver would keep a drain waiting
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(
    base: str, path: str, events: int, limit: float, pid: int | None = None
) -> dict[str, Any]:
    """Poll the receiver until `events` arrived on `path`. With the worker's pid, also the
    worker's CPU time per event from the first poll that saw events to the last (start-up is
    not counted): on a shared machine this says more than the wall-clock rate."""
    deadline = time.monotonic() + limit
    first: tuple[int, float] | None = None
    while time.monotonic() < deadline:
        entry = receiver_stats(base).get(path)
        if pid is not None and entry and first is None:
            first = (entry["events"], cpu_seconds(pid))
        if entry and entry["events"] >= events:
            if pid is not None and first is not None and entry["events"] > first[0]:
                spent = cpu_seconds(pid) - first[1]
                entry["cpu_ms_per_event"] = 1000 * spent / (entry["events"] - first[0])
            return entry
        time.sleep(0.2)
    raise SystemExit(f"{path}: only {receiver_stats(base).get(path)} after {limit:.0f} s")


def rate(entry: dict[str, Any]) -> float:
    span = max(entry["last"] - entry["first"], 1e-6)
    return float((entry["events"] - 1) / span) if entry["events"] > 1 else 0.0


# --- phases -------------------------------------------------------------------------------------


def phase_scaisend(
    db: str, rurl: str, env: dict[str, str], base: str, events: int
) -> tuple[float, float]:
    asyncio.run(seed(db, rurl, [("scaisend", f"{base}/scaisend")], events))
    with worker(env) as process:
        entry = wait_for(base, "/scaisend", events, limit=600, pid=process.pid)
    return rate(entry), float(entry.get("cpu_ms_per_event", 0.0))


def phase_sendgrid(
    db: str, rurl: str, env: dict[str, str], base: str, events: int
) -> tuple[float, int, float]:
    asyncio.run(seed(db, rurl, [("sendgrid", f"{base}/sendgrid")], events))
    with worker(env) as process:
        entry = wait_for(base, "/sendgrid", events, limit=600, pid=process.pid)
    return rate(entry), int(entry["requests"]), float(entry.get("cpu_ms_per_event", 0.0))


def phase_dead(
    db: str, rurl: str, env: dict[str, str], base: str, events: int
) -> tuple[float, int, int]:
    endpoints = [("scaisend", f"{base}/dead"), ("scaisend", f"{base}/alive")]
    asyncio.run(seed(db, rurl, endpoints, events))
    with worker(env):
        alive = wait_for(base, "/alive", events, limit=600)
        time.sleep(2)  # the dead lane has had every chance to take more
        dead = receiver_stats(base)["/dead"]
    return rate(alive), int(dead["max_in_flight"]), asyncio.run(pending(db, f"{base}/dead"))


async def baseline(base: str, count: int) -> float:
    """A bare httpx client, 10 requests in flight, posting envelope-sized bodies."""
    body = orjson.dumps({"event_id": "evt_" + "X" * 26, "event_type": "delivered",
                         "timestamp": 1, "message_id": "msg_" + "X" * 26,
                         "recipient_email": "u@example.com", "tenant_id": "tnt_" + "X" * 26,
                         "metadata": {"smtp_response": "250 2.0.0 OK"}})  # fmt: skip
    limit = asyncio.Semaphore(CAP)
    async with httpx.AsyncClient() as client:

        async def one() -> None:
            async with limit:
                await client.post(f"{base}/baseline", content=body)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch-events", type=int, default=20000)
    args = parser.parse_args()
    from tests.fixtures.storage import free_port

    with database() as db, redis_db() as rurl, receiver(free_port()) as base, \
            tempfile.TemporaryDirectory() as storage:  # fmt: skip
        from scaisend_core.db import create_engine_for_url
        from scaisend_core.migrate import upgrade

        async def migrate() -> None:
            engine = create_engine_for_url(db)
            await upgrade(engine)
            await engine.dispose()

        asyncio.run(migrate())
        env = {"DATABASE_URL": db, "REDIS_URL": rurl, "SECRET_KEY": SECRET_KEY,
               "STORAGE_DIR": storage, "ENVIRONMENT": "test", "WEBHOOK_ALLOW_PRIVATE": "true",
               "METRICS_PORT": "0", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}  # fmt: skip
        bare = asyncio.run(baseline(base, args.events))
        scaisend, scaisend_cpu = phase_scaisend(db, rurl, env, base, args.events)
        sendgrid, posts, sendgrid_cpu = phase_sendgrid(db, rurl, env, base, args.batch_events)
        alive, held, left = phase_dead(db, rurl, env, base, args.events)

    print(f"bare httpx client (10 in flight)      {bare:8.0f} requests/s")
    print(f"ScaiSend endpoints, 1 event per POST   {scaisend:8.0f} events/s"
          f"  (target {TARGET_EVENTS_PER_SECOND:.0f}: ratio {scaisend / TARGET_EVENTS_PER_SECOND:.2f};"
          f" {scaisend / bare:.2f} of the bare client; worker CPU {scaisend_cpu:.2f} ms/event)")  # fmt: skip
    print(f"SendGrid Event Webhook, batched        {sendgrid:8.0f} events/s"
          f"  ({args.batch_events} events in {posts} POSTs; ratio {sendgrid / TARGET_EVENTS_PER_SECOND:.2f};"
          f" worker CPU {sendgrid_cpu:.3f} ms/event)")  # fmt: skip
    print(f"healthy endpoint beside a dead one     {alive:8.0f} events/s")
    print(
        f"dead endpoint: requests held at once   {held:8d}  (cap {CAP}; "
        f"{'OK' if held <= CAP else 'OVER CAP'}); {left} deliveries still pending for it"
    )


if __name__ == "__main__":
    main()
