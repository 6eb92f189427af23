"""Benchmark POST /v3/mail/send: a real `scaisend serve` on MariaDB + Redis against a bare
FastAPI/uvicorn endpoint that only parses the same JSON, 32 concurrent connections each (wrk when
installed, else an httpx load generator), then a 1000-personalization request.

Both servers run with the same number of uvicorn workers. Beside req/s and latency it reports
the CPU each request cost the server's processes (and MariaDB's, for ours), taken from the
kernel over the measured run: on a shared 2-core machine req/s moves with the load of others,
CPU per request much less.

    .venv/bin/python bench/api_send.py [--seconds 10] [--connections 32] [--workers 1]

Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on 127.0.0.1:6379, as the tests do.
It creates and drops its own database and claims a Redis db number the way the tests do."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi import FastAPI, Request  # module level: the bare handler's string annotations
from fastapi.responses import JSONResponse  # resolve against these globals

ROOT = Path(__file__).resolve().parents[1]
from _env import database, free_port, redis_db  # noqa: E402

DOMAIN = "bench.scaisend.test"
TARGETS = {"p50_ms": 5.0, "p99_ms": 20.0, "ratio": 0.40, "big_ms": 300.0}


def one_kb_body() -> dict[str, Any]:
    """One personalization, plain + HTML content: about 1 KB of JSON."""
    text_part = "Hello Ada, your order #4242 has shipped and is on its way to you. " * 3
    return {
        "personalizations": [{"to": [{"email": "ada@example.com", "name": "Ada Lovelace"}],
                              "custom_args": {"order": "4242"}}],
        "from": {"email": f"orders@{DOMAIN}", "name": "Acme Orders"},
        "subject": "Your order #4242 has shipped",
        "content": [{"type": "text/plain", "value": text_part},
                    {"type": "text/html", "value": f"<html><body><p>{text_part}</p></body></html>"}],
        "categories": ["orders", "shipping"],
    }  # fmt: skip


def big_body(n: int = 1000) -> dict[str, Any]:
    body = one_kb_body()
    body["personalizations"] = [
        {"to": [{"email": f"user{i}@example.com"}], "substitutions": {"-n-": str(i)}}
        for i in range(n)
    ]
    return body


# --- environment: database, Redis db, storage, tenant + key -----------------------------------


async def seed(database_url: str) -> str:
    """Migrate, then a tenant, a live key and a verified sender domain; returns the key."""
    from scaisend_core.db import create_engine_for_url, create_session_factory
    from scaisend_core.ids import new_id
    from scaisend_core.migrate import upgrade
    from scaisend_core.models import SenderDomain, utcnow
    from scaisend_core.permissions import PERMISSION_NAMES
    from scaisend_core.repositories.api_keys import create_api_key
    from scaisend_core.repositories.tenants import create_tenant

    engine = create_engine_for_url(database_url)
    await upgrade(engine)
    async with create_session_factory(engine)() as session:
        tenant = await create_tenant(session, "Bench Inc")
        key = await create_api_key(
            session, tenant_id=tenant.id, name="bench", scopes=list(PERMISSION_NAMES)
        )
        session.add(SenderDomain(
            id=new_id("dom"), tenant_id=tenant.id, domain=DOMAIN, verified=True,
            verified_at=utcnow(), return_path_host=f"bounces.{DOMAIN}",
            dkim_private_key="unused", dkim_public_key="unused",
        ))  # fmt: skip
        await session.commit()
    await engine.dispose()
    return key.secret


# --- servers ----------------------------------------------------------------------------------


@contextmanager
def serve(argv: list[str], env: dict[str, str], port: int, probe: str) -> Iterator[Server]:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{argv[0]} exited with {process.returncode}")
            try:
                if httpx.get(base + probe, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass(frozen=True)
class Server:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its uvicorn workers so far."""
        root = psutil.Process(self.pid)
        return sum(_cpu(p) for p in [root, *root.children(recursive=True)])


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def mariadb_cpu_seconds() -> float:
    return sum(
        _cpu(p) for p in psutil.process_iter(["name"]) if p.info["name"] in ("mariadbd", "mysqld")
    )


def bare_app() -> FastAPI:
    """The baseline: FastAPI parses the same JSON and answers 202, nothing else."""
    app = FastAPI()

    @app.post("/v3/mail/send")
    async def send(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"message_id": str(len(body["personalizations"]))}, status_code=202)

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def run_bare(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run("api_send:bare_app", factory=True, host="127.0.0.1", port=port, workers=workers,
                loop="uvloop", http="httptools", access_log=False, log_level="warning",
                app_dir=str(Path(__file__).parent))  # fmt: skip


# --- load ---------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
wrk.body = %(body)s
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50": %%f, "p99": %%f, "non2xx": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def load(server: Server, key: str, seconds: int, connections: int) -> dict[str, float]:
    body = json.dumps(one_kb_body())
    server_cpu, mariadb_cpu = server.cpu_seconds(), mariadb_cpu_seconds()
    if shutil.which("wrk"):
        result = _wrk(server.base, key, body, seconds, connections)
    else:
        result = asyncio.run(_httpx_load(server.base, key, body, seconds, connections))
    done = result["rps"] * seconds
    result["server_us"] = (server.cpu_seconds() - server_cpu) / done * 1e6
    result["mariadb_us"] = (mariadb_cpu_seconds() - mariadb_cpu) / done * 1e6
    return result


def _wrk(base: str, key: str, body: str, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"key": key, "body": json.dumps(body)})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script.name,
         f"{base}/v3/mail/send"], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    return {"rps": result["requests"] / result["seconds"], "p50_ms": result["p50"],
            "p99_ms": result["p99"], "failed": result["non2xx"] + result["errors"]}  # fmt: skip


async def _httpx_load(
    base: str, key: str, body: str, seconds: int, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    failed = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as client:
        stop = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal failed
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = await client.post("/v3/mail/send", content=body)
                latencies.append((time.perf_counter() - started) * 1000)
                failed += response.status_code != 202

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": cuts[49], "p99_ms": cuts[98],
            "failed": failed}  # fmt: skip


def time_big(base: str, key: str, repeats: int = 5) -> list[float]:
    body = json.dumps(big_body()).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.post("/v3/mail/send", content=body)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text
            assert len(response.json()["message_ids"]) == 1000
    return times


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    args = _args()
    if args.bare is not None:
        run_bare(args.bare, args.workers)
        return
    load_before = os.getloadavg()
    with ExitStack() as stack:
        database_url = stack.enter_context(database())
        redis_url = stack.enter_context(redis_db())
        storage = stack.enter_context(tempfile.TemporaryDirectory(prefix="scaisend-bench-"))
        key = asyncio.run(seed(database_url))
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "SECRET_KEY": secrets.token_hex(32), "STORAGE_DIR": storage,
               "EHLO_HOSTNAME": "mta.bench.test", "LOG_LEVEL": "WARNING", "API_HOST": "127.0.0.1"}  # fmt: skip
        scaisend = str(Path(sys.executable).parent / "scaisend")
        port = free_port()
        env_ours = {**env, "API_PORT": str(port), "API_WORKERS": str(args.workers)}
        with serve([scaisend, "serve"], env_ours, port, "/ready") as server:
            load(server, key, 2, args.connections)  # warm-up: pools, caches, JIT-free but still
            ours = load(server, key, args.seconds, args.connections)
            big = time_big(server.base, key)
        bare_port = free_port()
        argv = [sys.executable, __file__, "--bare", str(bare_port), "--workers", str(args.workers)]
        with serve(argv, env, bare_port, "/ready") as server:
            load(server, key, 2, args.connections)
            bare = load(server, key, args.seconds, args.connections)
    report(ours, bare, big, args, (load_before, os.getloadavg()))


def report(
    ours: dict[str, float], bare: dict[str, float], big: list[float], args: Any,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> None:  # fmt: skip
    ratio = ours["rps"] / bare["rps"]
    tool = "wrk" if shutil.which("wrk") else "httpx"
    print(f"POST /v3/mail/send, 1 KB body, {args.connections} connections, {args.seconds} s, "
          f"{args.workers} uvicorn worker(s), load by {tool}")  # fmt: skip
    before, after = (" ".join(f"{x:.2f}" for x in avg) for avg in loads)
    print(f"  load average before {before}, after {after} (2 cores, shared with other work)")
    for name, r in (("scaisend serve", ours), ("bare FastAPI", bare)):
        print(f"  {name:15} {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.2f} ms   "
              f"p99 {r['p99_ms']:6.2f} ms   failed {int(r['failed'])}   "
              f"server CPU {r['server_us']:4.0f} us/req")  # fmt: skip
    print(f"  MariaDB CPU     {ours['mariadb_us']:8.0f} us per scaisend request")
    print(f"  ratio           {ratio:8.1%} of the bare endpoint's req/s")
    print(f"  1000 personalizations: median {statistics.median(big):.0f} ms "
          f"(min {min(big):.0f}, max {max(big):.0f}, n={len(big)})")  # fmt: skip
    checks = {
        "p50 <= 5 ms": ours["p50_ms"] <= TARGETS["p50_ms"],
        "p99 <= 20 ms": ours["p99_ms"] <= TARGETS["p99_ms"],
        ">= 40% of bare req/s": ratio >= TARGETS["ratio"],
        "1000 personalizations < 300 ms": statistics.median(big) < TARGETS["big_ms"],
    }
    print("  targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in checks.items()))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bare", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
