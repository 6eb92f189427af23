"""Benchmark the worker: messages processed per second by one worker process (the real
`run_worker` in burst mode: arq on Redis, MariaDB, local object storage) for a typical dynamic
template (a 20-item `#each`, `{{else if}}`, open + click + subscription tracking, one 50 KB
attachment on 10% of the messages); then pybars3's render time per call next to Node's
`handlebars` package on the same template and data, measured in the same run.

    .venv/bin/python bench/render.py [--messages 3000] [--concurrency 20]

Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on 127.0.0.1:6379, as the tests do,
and `node` + `npm` for the comparison (handlebars is installed into a temporary directory). It
creates and drops its own database and claims a Redis db number the way the tests do."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _env import database, redis_db  # noqa: E402

SECRET_KEY = "test-secret-key-" + "0123456789abcdef" * 2
TARGETS = {"msgs_per_s": 300.0, "render_share": 0.10}

SUBJECT = "Your order {{order.id}} has shipped, {{first_name}}"
HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Order {{order.id}}</title></head>
<body style="font-family: sans-serif">
<h1>Hi {{first_name}},</h1>
{{#if vip}}<p>Thanks for being a VIP customer since {{since}}.</p>{{else if trial}}<p>Your trial ends on {{trial_end}}.</p>{{else}}<p>Thanks for your order.</p>{{/if}}
<table>
<tr><th>Item</th><th>Qty</th><th>Price</th><th>Discount</th></tr>
{{#each items}}<tr><td><a href="https://shop.example.com/p/{{sku}}?ref=mail">{{name}}</a></td><td>{{qty}}</td><td>{{price}}</td><td>{{#if discount}}-{{discount}}{{else}}&nbsp;{{/if}}</td></tr>
{{/each}}</table>
<p>Total: <b>{{order.total}}</b> &middot; shipped to {{order.address.city}}, {{order.address.country}}</p>
<p><a href="https://shop.example.com/orders/{{order.id}}">Track your parcel</a> &middot; <a href="mailto:help@shop.example.com">Help</a></p>
<p style="color:#888">Acme Shop, 1 Main St &middot; <a href="{{{unsubscribe}}}">Unsubscribe</a></p>
</body></html>
"""


def template_data(n: int) -> dict[str, Any]:
    return {
        "first_name": f"Ada{n}",
        "vip": n % 3 == 0,
        "trial": n % 3 == 1,
        "since": "2021",
        "trial_end": "May 1",
        "order": {"id": f"A-{n:06d}", "total": "€123.45",
                  "address": {"city": "Zürich", "country": "CH"}},
        "items": [
            {"sku": f"sku-{i}", "name": f"Item <{i}> & more", "qty": i % 4 + 1,
             "price": f"€{i}.99", "discount": f"€{i % 3}" if i % 2 else ""}
            for i in range(20)
        ],
    }  # fmt: skip


# --- environment --------------------------------------------------------------------------------


# --- seeding ------------------------------------------------------------------------------------


async def seed(database_url: str, storage_dir: str, count: int) -> list[str]:
    """Migrate; a tenant with subscription tracking on, the template, `count` queued messages."""
    from scaisend_core.db import create_engine_for_url, create_session_factory
    from scaisend_core.ids import new_id, new_template_id
    from scaisend_core.migrate import upgrade
    from scaisend_core.models import (
        EmailMessage,
        MessageAttachment,
        MessageRecipient,
        Template,
        TemplateVersion,
        TenantSettings,
        utcnow,
    )  # fmt: skip
    from scaisend_core.repositories.tenants import create_tenant
    from scaisend_core.storage import LocalStorage

    engine = create_engine_for_url(database_url)
    await upgrade(engine)
    storage = LocalStorage(storage_dir)
    async with create_session_factory(engine)() as session:
        tenant = await create_tenant(session, "Bench Inc")
        defaults = await session.get(TenantSettings, tenant.id) or TenantSettings(
            tenant_id=tenant.id
        )
        defaults.subscription_tracking_enabled = True
        session.add(defaults)
        template = Template(id=new_template_id(), tenant_id=tenant.id, name="order")
        session.add(template)
        await session.flush()
        session.add(TemplateVersion(id=new_id("v"), tenant_id=tenant.id, template_id=template.id,
                                    name="v1", subject=SUBJECT, html_content=HTML, active=1))  # fmt: skip
        await session.commit()
        now = utcnow()
        messages, recipients, attachments, ids = [], [], [], []
        for n in range(count):
            message_id = new_id("msg")
            ids.append(message_id)
            messages.append(dict(
                id=message_id, tenant_id=tenant.id, from_email="orders@mail.bench.test",
                from_name="Acme Shop", subject=None, template_id=template.id,
                dynamic_template_data=template_data(n), categories=["orders"],
                message_id_header=f"<{message_id}@mta.bench.test>", created_at=now, updated_at=now,
            ))  # fmt: skip
            recipients.append(dict(id=new_id("rcp"), tenant_id=tenant.id, message_id=message_id,
                                   kind="to", email=f"user{n}@example.com", name=f"User {n}"))  # fmt: skip
            if n % 10 == 0:  # one 50 KB attachment on 10% of the messages
                blob = os.urandom(50 * 1024)
                key = f"attachments/{tenant.id}/{message_id}"
                await storage.put(key, blob)
                attachments.append(dict(
                    id=new_id("att"), tenant_id=tenant.id, message_id=message_id,
                    filename=f"invoice-{n}.pdf", content_type="application/pdf", size=len(blob),
                    sha256="0" * 64, storage_key=key,
                ))  # fmt: skip
        for chunk in range(0, count, 500):
            part = slice(chunk, chunk + 500)
            await session.exec(insert(EmailMessage), params=_rows(EmailMessage, messages[part]))
            await session.exec(
                insert(MessageRecipient), params=_rows(MessageRecipient, recipients[part])
            )
        if attachments:
            await session.exec(
                insert(MessageAttachment), params=_rows(MessageAttachment, attachments)
            )
        await session.commit()
    await engine.dispose()
    return ids


def _rows(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete each row with the model's defaults (insert() with params bypasses them)."""
    return [model(**row).model_dump() for row in rows]


async def enqueue_all(redis_url: str, ids: list[str]) -> None:
    from scaisend_core.queue import ProcessMessage, enqueue_many
    from scaisend_core.queue.connection import create_arq_pool

    pool = await create_arq_pool(redis_url)
    for chunk in range(0, len(ids), 1000):
        await enqueue_many(pool, [ProcessMessage(message_id=i) for i in ids[chunk : chunk + 1000]])
    await pool.aclose()


# --- the measurements ---------------------------------------------------------------------------


async def process_all(env: dict[str, str]) -> tuple[float, float]:
    """One worker process in burst mode; wall seconds and CPU seconds."""
    from scaisend_core.config import load_settings
    from scaisend_worker.config import WorkerConfig
    from scaisend_worker.runner import run_worker

    os.environ.update(env)
    settings = load_settings(WorkerConfig)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    await run_worker(settings, burst=True, metrics=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


async def outcome(database_url: str) -> dict[str, int]:
    from scaisend_core.db import create_engine_for_url

    engine = create_engine_for_url(database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, COUNT(*) FROM email_messages GROUP BY status")
        )
        result = {status: n for status, n in rows}
    await engine.dispose()
    return result


def pybars_render(rounds: int = 7, per_round: int = 500) -> tuple[float, float, str]:
    """Median µs per render of the HTML, and of subject + HTML (what a message costs)."""
    from scaisend_core.templating import compile_template

    html, subject = compile_template(HTML), compile_template(SUBJECT)
    data = {**template_data(0), "unsubscribe": "https://x.example/t/u/tok"}
    per_html, per_message = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            html(data)
        per_html.append((time.perf_counter() - start) / per_round * 1e6)
        start = time.perf_counter()
        for _ in range(per_round):
            subject(data)
            html(data)
        per_message.append((time.perf_counter() - start) / per_round * 1e6)
    return statistics.median(per_html), statistics.median(per_message), html(data)


NODE_BENCH = """
const Handlebars = require('handlebars');
const [source, data, rounds, perRound] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const template = Handlebars.compile(source);
const timings = [];
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < perRound; i++) template(data);
  timings.push(Number(process.hrtime.bigint() - start) / perRound / 1000);
}
timings.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({us: timings[Math.floor(rounds / 2)], html: template(data),
                                     version: Handlebars.VERSION}));
"""


def node_render(rounds: int = 7, per_round: int = 5000) -> dict[str, Any] | None:
    """Node's handlebars on the same template and data; None without node/npm."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None
    with tempfile.TemporaryDirectory() as workdir:
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "handlebars"],
                       cwd=workdir, check=True, capture_output=True)  # fmt: skip
        Path(workdir, "bench.js").write_text(NODE_BENCH)
        data = {**template_data(0), "unsubscribe": "https://x.example/t/u/tok"}
        result = subprocess.run(
            ["node", "bench.js"], cwd=workdir, check=True, capture_output=True,
            input=json.dumps([HTML, data, rounds, per_round]).encode(),
        )  # fmt: skip
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def profiled(env: dict[str, str]) -> tuple[float, float]:
    import cProfile
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(uvloop.run, process_all(env))
    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="cProfile the worker run")
    args = parser.parse_args()

    with ExitStack() as stack:
        database_url = stack.enter_context(database())
        redis_url = stack.enter_context(redis_db())
        storage_dir = stack.enter_context(tempfile.TemporaryDirectory())
        ids = asyncio.run(seed(database_url, storage_dir, args.messages))
        asyncio.run(enqueue_all(redis_url, ids))
        env = {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "STORAGE_DIR": storage_dir,
            "SECRET_KEY": SECRET_KEY, "ENVIRONMENT": "test", "METRICS_PORT": "0",
            "PUBLIC_BASE_URL": "https://email.bench.test", "EHLO_HOSTNAME": "mta.bench.test",
            "WORKER_CONCURRENCY": str(args.concurrency), "LOG_LEVEL": "WARNING",
        }  # fmt: skip
        # on uvloop, as `scaisend worker` runs
        load_before = os.getloadavg()[0]
        wall, cpu = profiled(env) if args.profile else uvloop.run(process_all(env))
        load_after = os.getloadavg()[0]
        states = asyncio.run(outcome(database_url))
    html_us, message_us, python_html = pybars_render()
    node = node_render()

    rate = args.messages / wall
    per_message_us = wall / args.messages * 1e6
    print(f"messages: {args.messages} (20-item #each, open+click+subscription tracking, "
          f"50 KB attachment on 10%), concurrency {args.concurrency}")  # fmt: skip
    print(f"message states: {states}")
    print(f"worker: {wall:.2f} s wall, {cpu:.2f} s CPU -> {rate:.0f} msg/s "
          f"({per_message_us / 1000:.2f} ms wall, {cpu / args.messages * 1000:.2f} ms CPU per "
          f"message); target >= {TARGETS['msgs_per_s']:.0f} msg/s; load average "
          f"{load_before:.2f} -> {load_after:.2f} (2 cores: MariaDB, Redis and other work "
          f"share them)")  # fmt: skip
    share = message_us / per_message_us
    print(f"pybars3 render: {html_us:.0f} µs per HTML render, {message_us:.0f} µs per message "
          f"(subject + HTML) = {share:.1%} of the per-message time; "
          f"target <= {TARGETS['render_share']:.0%}")  # fmt: skip
    if node is None:
        print("node handlebars: skipped (node/npm not found)")
        return
    same = "identical" if node["html"] == python_html else "DIFFERENT"
    print(f"node handlebars {node['version']}: {node['us']:.1f} µs per HTML render -> pybars3 is "
          f"{html_us / node['us']:.1f}x slower; outputs {same}")  # fmt: skip


if __name__ == "__main__":
    main()
