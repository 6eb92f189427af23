"""Benchmark webhook delivery: events per second from one `scaisend worker` process to a loopback
receiver running in its own process, against the target of issue 8 (>= 1,000 events/s for both
models; a receiver that never answers holds at most its own concurrency cap).

1. ScaiSend endpoints: one Standard-Webhooks-signed POST per event.
2. The SendGrid Event Webhook: ECDSA-signed JSON arrays (up to 1,000 events each).
3. A receiver that never answers next to a healthy one: the dead endpoint may hold at most its
   concurrency cap of requests; the healthy one keeps delivering.

How a phase is timed: events are recorded the way emitters record them (deliveries in the same
transaction, `deliver_webhook` jobs after commit), then held (not due) while `scaisend worker`
starts and delivers one warm-up event, so process start-up is not counted. The clock starts at
the enqueue: the held deliveries are made due and one `deliver_webhook` job per endpoint is
pushed to `webhook:deliver`; it stops when the receiver has the last event (both clocks are the
system's monotonic clock). The worker's CPU time per event is taken from /proc over the same
span: on a shared machine it moves less than the rate. The baseline is a bare httpx client (its
default anyio transport) posting envelope-sized bodies to the same receiver.

    .venv/bin/python bench/webhooks.py [--events 5000] [--batch-events 20000]

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import bindparam, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _env import database, free_port, redis_db  # noqa: E402

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

HELD_UNTIL = "2100-01-01 00:00:00"  # a held delivery is not due until the phase's clock starts


async def seed(
    database_url: str, redis_url: str, endpoints: list[tuple[str, str]], events: int
) -> None:
    """A tenant with the given (kind, url) endpoints and `events` events recorded the way every
    emitter records them (deliveries in the same transaction, jobs enqueued after commit). The
    deliveries are then held (see `release`)."""
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
            await (await session.connection()).execute(text(
                "UPDATE webhook_deliveries SET next_attempt_at = :held WHERE status = 'pending'"),
                {"held": HELD_UNTIL})  # fmt: skip
            await session.commit()
            await jobs.flush(pool)
    await pool.aclose()
    await engine.dispose()


async def release(database_url: str, redis_url: str, urls: list[str]) -> float:
    """Start the clock: make the held deliveries of the endpoints at `urls` due and push one
    `deliver_webhook` job per endpoint (what an emitter does after its commit). Returns the
    monotonic time just before the UPDATE."""
    from scaisend_core.db import create_engine_for_url
    from scaisend_core.models import utcnow
    from scaisend_core.queue import DeliverWebhook
    from scaisend_core.queue.connection import create_arq_pool
    from scaisend_core.queue.enqueue import enqueue_many

    engine = create_engine_for_url(database_url)
    pool = await create_arq_pool(redis_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT e.id, MIN(d.id) FROM webhook_endpoints e JOIN webhook_deliveries d"
            " ON d.endpoint_id = e.id WHERE e.url IN :urls AND d.status = 'pending'"
            " GROUP BY e.id").bindparams(bindparam("urls", expanding=True)),
            {"urls": urls})).all()  # fmt: skip
        started = time.monotonic()
        await conn.execute(text(
            "UPDATE webhook_deliveries SET next_attempt_at = :now"
            " WHERE endpoint_id IN :ids AND status = 'pending'").bindparams(
                bindparam("ids", expanding=True)),
            {"now": utcnow(), "ids": [r[0] for r in rows]})  # fmt: skip
        await conn.commit()
    jobs = [DeliverWebhook(delivery_id=f"bench-{d}", endpoint_id=e) for e, d in rows]
    await enqueue_many(pool, jobs)
    await pool.aclose()
    await engine.dispose()
    return started


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
    # Its log goes to a file: a pipe nobody reads would stall a chatty worker once full.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/scaisend"), "worker"], env={**os.environ, **env},
            stdout=subprocess.DEVNULL, stderr=log,
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


def wait_for(base: str, path: str, events: int, limit: float) -> dict[str, Any]:
    """Poll the receiver until `events` arrived on `path`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        entry = receiver_stats(base).get(path)
        if entry and entry["events"] >= events:
            return entry
        time.sleep(0.05)
    raise SystemExit(f"{path}: only {receiver_stats(base).get(path)} after {limit:.0f} s")


@dataclass(frozen=True)
class Run:
    events: int
    seconds: float  # from the enqueue to the last event at the receiver
    requests: int
    cpu_ms_per_event: float  # the worker's

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def timed(db: str, rurl: str, base: str, pid: int, measured: list[tuple[str, int]]) -> list[Run]:
    """Release the held deliveries of every (path, events) and wait for all of them."""
    cpu = cpu_seconds(pid)
    started = asyncio.run(release(db, rurl, [base + path for path, _ in measured]))
    runs = []
    for path, events in measured:
        entry = wait_for(base, path, events, limit=600)
        runs.append((path, events, entry))
    spent = cpu_seconds(pid) - cpu
    total = sum(events for _, events in measured)
    return [
        Run(events, max(entry["last"] - started, 1e-3), int(entry["requests"]),
            1000 * spent / total)
        for _, events, entry in runs
    ]  # fmt: skip


@contextmanager
def warm_worker(env: dict[str, str], base: str, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A started worker that has delivered the phase's warm-up event (seeded due, not held)."""
    with worker(env) as process:
        wait_for(base, f"/warmup-{name}", 1, limit=120)
        yield process


def seed_phase(
    db: str, rurl: str, base: str, name: str, endpoints: list[tuple[str, str]], events: int
) -> None:
    asyncio.run(seed(db, rurl, endpoints, events))
    asyncio.run(seed_warmup(db, rurl, f"{base}/warmup-{name}"))


async def seed_warmup(db: str, rurl: str, url: str) -> None:
    """One due event for the phase's warm-up endpoint: its arrival says the worker is up."""
    from scaisend_core.db import create_engine_for_url

    await seed(db, rurl, [("scaisend", url)], 1)
    engine = create_engine_for_url(db)
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            " SET d.next_attempt_at = NOW() - INTERVAL 1 DAY WHERE e.url = :url"),
            {"url": url})  # fmt: skip
    await engine.dispose()


# --- phases -------------------------------------------------------------------------------------


def phase_scaisend(db: str, rurl: str, env: dict[str, str], base: str, events: int) -> Run:
    seed_phase(db, rurl, base, "scaisend", [("scaisend", f"{base}/scaisend")], events)
    with warm_worker(env, base, "scaisend") as process:
        return timed(db, rurl, base, process.pid, [("/scaisend", events)])[0]


def phase_sendgrid(db: str, rurl: str, env: dict[str, str], base: str, events: int) -> Run:
    seed_phase(db, rurl, base, "sendgrid", [("sendgrid", f"{base}/sendgrid")], events)
    with warm_worker(env, base, "sendgrid") as process:
        return timed(db, rurl, base, process.pid, [("/sendgrid", events)])[0]


def phase_dead(
    db: str, rurl: str, env: dict[str, str], base: str, events: int
) -> tuple[Run, int, int]:
    endpoints = [("scaisend", f"{base}/dead"), ("scaisend", f"{base}/alive")]
    seed_phase(db, rurl, base, "dead", endpoints, events)
    with warm_worker(env, base, "dead") as process:
        cpu = cpu_seconds(process.pid)
        started = asyncio.run(release(db, rurl, [f"{base}/dead", f"{base}/alive"]))
        alive = wait_for(base, "/alive", events, limit=600)
        spent = cpu_seconds(process.pid) - cpu
        time.sleep(2)  # the dead lane has had every chance to take more
        dead = receiver_stats(base)["/dead"]
    run = Run(events, max(alive["last"] - started, 1e-3), int(alive["requests"]),
              1000 * spent / events)  # fmt: skip
    return run, int(dead["max_in_flight"]), asyncio.run(pending(db, f"{base}/dead"))


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


def verdict(rate: float) -> str:
    return "MET" if rate >= TARGET_EVENTS_PER_SECOND else "NOT MET"


def rate_line(label: str, run: Run, detail: str) -> str:
    """One result line: the label padded to a column, events/s, the verdict, then details."""
    return f"{label:<38} {run.rate:8.0f} events/s  {verdict(run.rate)}  ({detail})"


PHASES = ("scaisend", "sendgrid", "dead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="per ScaiSend phase")
    parser.add_argument("--batch-events", type=int, default=20000, help="SendGrid phase")
    parser.add_argument("--only", nargs="+", choices=PHASES, default=PHASES, help="phases to run")
    args = parser.parse_args()

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
        lines = [f"bare httpx client (10 in flight)       {bare:8.0f} requests/s"]
        if "scaisend" in args.only:
            run = phase_scaisend(db, rurl, env, base, args.events)
            detail = f"{run.events} events in {run.seconds:.2f} s; worker CPU"
            detail += f" {run.cpu_ms_per_event:.2f} ms/event"
            lines.append(rate_line("ScaiSend endpoints, 1 event per POST", run, detail))
        if "sendgrid" in args.only:
            run = phase_sendgrid(db, rurl, env, base, args.batch_events)
            detail = f"{run.events} events in {run.requests} POSTs, {run.seconds:.2f} s;"
            detail += f" worker CPU {run.cpu_ms_per_event:.3f} ms/event"
            lines.append(rate_line("SendGrid Event Webhook, batched", run, detail))
        if "dead" in args.only:
            alive, held, left = phase_dead(db, rurl, env, base, args.events)
            detail = f"{alive.events} events in {alive.seconds:.2f} s"
            lines.append(rate_line("healthy endpoint beside a dead one", alive, detail))
            lines.append(
                f"dead endpoint: requests held at once   {held:8d}  (cap {CAP}: "
                f"{'MET' if held <= CAP else 'NOT MET'}); {left} deliveries still pending for it"
            )

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; target {TARGET_EVENTS_PER_SECOND:.0f} events/s")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
