"""Helpers for API tests: the app behind the client, rows other APIs create (domains, templates,
batches, ASM groups), a valid mail body and the arq jobs waiting in Redis."""

from __future__ import annotations

from typing import Any

import httpx
from arq.connections import ArqRedis
from arq.jobs import deserialize_job
from fastapi import FastAPI

from scaisend_api.state import AppState
from scaisend_core.db import SessionFactory
from scaisend_core.ids import new_id, new_template_id
from scaisend_core.models import AsmGroup, MailBatch, SenderDomain, Template, utcnow
from scaisend_core.queue.contracts import EMAIL_PROCESS


def app_of(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return app


def state_of(client: httpx.AsyncClient) -> AppState:
    state: AppState = app_of(client).state.scaisend
    return state


class FixedClock:
    """An injectable clock for the rate limiter: time moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def add_verified_domain(sessions: SessionFactory, tenant_id: str, domain: str) -> None:
    """A sender domain row as the domains API leaves it once DNS verified (keys irrelevant)."""
    async with sessions() as session:
        session.add(
            SenderDomain(
                id=new_id("dom"),
                tenant_id=tenant_id,
                domain=domain,
                verified=True,
                verified_at=utcnow(),
                return_path_host=f"bounces.{domain}",
                dkim_private_key="unused-in-api-tests",
                dkim_public_key="unused-in-api-tests",
            )
        )
        await session.commit()


async def add_template(sessions: SessionFactory, tenant_id: str, *, deleted: bool = False) -> str:
    """A dynamic template row as the templates API creates it."""
    template_id = new_template_id()
    async with sessions() as session:
        session.add(
            Template(
                id=template_id,
                tenant_id=tenant_id,
                name="welcome",
                generation="dynamic",
                deleted_at=utcnow() if deleted else None,
            )
        )
        await session.commit()
    return template_id


async def add_batch(sessions: SessionFactory, tenant_id: str, status: str | None = None) -> str:
    batch_id = new_id("batch")
    async with sessions() as session:
        session.add(MailBatch(id=batch_id, tenant_id=tenant_id, status=status))
        await session.commit()
    return batch_id


async def add_asm_group(sessions: SessionFactory, tenant_id: str, name: str = "news") -> int:
    async with sessions() as session:
        group = AsmGroup(tenant_id=tenant_id, name=name)
        session.add(group)
        await session.commit()
        assert group.id is not None
        return group.id


SENDER_DOMAIN = "mail.acme.test"


def mail_body(**overrides: Any) -> dict[str, Any]:
    """A valid one-personalization send from SENDER_DOMAIN; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": "ada@example.com", "name": "Ada"}]}],
        "from": {"email": f"hello@{SENDER_DOMAIN}", "name": "Acme"},
        "subject": "Welcome to Acme",
        "content": [
            {"type": "text/plain", "value": "Welcome, Ada!"},
            {"type": "text/html", "value": "<h1>Welcome, Ada!</h1>"},
        ],
    }
    body.update(overrides)
    return body


async def queued_jobs(redis: ArqRedis, queue: str = EMAIL_PROCESS) -> list[dict[str, Any]]:
    """The arq jobs waiting on a queue (sorted set of ids, payloads under arq:job:<id>)."""
    jobs = []
    for job_id in await redis.zrange(queue, 0, -1):
        raw = await redis.get(f"arq:job:{job_id.decode()}")
        assert raw is not None
        job = deserialize_job(raw)
        jobs.append({"id": job_id.decode(), "function": job.function, **job.kwargs})
    return jobs
