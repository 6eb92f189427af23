"""Shared by the webhook worker tests: a clock tests move by hand, a runtime on the run's
database, endpoints and events written the way the API and the emitters write them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from sqlmodel import col, select

from scaisend_core.config import CoreSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.ids import new_id
from scaisend_core.models import (
    EmailMessage,
    EndpointKind,
    MessageEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from scaisend_core.queue import JobBuffer
from scaisend_core.repositories.events import NewEvent, record_events
from scaisend_core.webhook_signing import new_ecdsa_key_pair, new_signing_secret, secret_context
from scaisend_worker.webhooks.runtime import WebhookOptions, WebhookRuntime
from tests.fixtures.environment import TEST_SECRET_KEY

BOX = SecretBox(TEST_SECRET_KEY)


class FakeClock:
    """The wall clock plus the jumps a test makes: retry schedules are walked by `advance`,
    never by sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@asynccontextmanager
async def webhook_runtime(
    settings: CoreSettings, sessions: SessionFactory, clock: FakeClock, **options: Any
) -> AsyncIterator[WebhookRuntime]:
    runtime = WebhookRuntime(
        settings, sessions, BOX, options=WebhookOptions(**options), clock=clock
    )
    try:
        yield runtime
    finally:
        await runtime.aclose(drain=False)


@dataclass(frozen=True, slots=True)
class EndpointFixture:
    row: WebhookEndpoint
    signing_secret: str | None = None
    public_key: str | None = None


async def add_endpoint(
    sessions: SessionFactory,
    tenant_id: str,
    url: str,
    *,
    events: list[str] | None = None,
    kind: EndpointKind = EndpointKind.SCAISEND,
    signed: bool = False,
    oauth: tuple[str, str, str] | None = None,  # (token URL, client id, client secret)
) -> EndpointFixture:
    row = WebhookEndpoint(
        id=new_id("wh"), tenant_id=tenant_id, kind=kind, url=url, enabled_events=events or ["*"]
    )
    secret = public = None
    if kind == EndpointKind.SCAISEND:
        secret = new_signing_secret()
        row.signing_secret = BOX.encrypt(secret, context=secret_context(row.id, "signing_secret"))
    if signed:
        pair = new_ecdsa_key_pair()
        row.signed, public, row.ecdsa_public_key = True, pair.public_key, pair.public_key
        row.ecdsa_private_key = BOX.encrypt(
            pair.private_pem, context=secret_context(row.id, "ecdsa_private_key")
        )
    if oauth is not None:
        row.oauth_token_url, row.oauth_client_id = oauth[0], oauth[1]
        row.oauth_client_secret = BOX.encrypt(
            oauth[2], context=secret_context(row.id, "oauth_client_secret")
        )
    async with sessions() as session:
        session.add(row)
        await session.commit()
    return EndpointFixture(row, secret, public)


async def add_message(sessions: SessionFactory, tenant_id: str, **fields: Any) -> EmailMessage:
    message_id = new_id("msg")
    values: dict[str, Any] = {
        "from_email": "sender@example.test",
        "message_id_header": f"<{message_id}@mta.scaisend.test>",
    }
    values.update(fields)
    message = EmailMessage(id=message_id, tenant_id=tenant_id, **values)
    async with sessions() as session:
        session.add(message)
        await session.commit()
    return message


async def emit(
    sessions: SessionFactory,
    tenant_id: str,
    *event_types: EventType,
    message_id: str | None = None,
    details: dict[str, Any] | None = None,
    redis: ArqRedis | None = None,
    occurred_at: datetime | None = None,
) -> list[MessageEvent]:
    """Record events as every emitter does (event rows, delivery rows, jobs after commit)."""
    jobs = JobBuffer()
    new = [
        NewEvent(tenant_id, t, message_id, "rcpt@example.test", details or {}, occurred_at)
        for t in event_types
    ]
    async with sessions() as session:
        rows = await record_events(session, new, jobs)
        await session.commit()
    if redis is not None:
        await jobs.flush(redis)
    return rows


async def deliveries(
    sessions: SessionFactory, endpoint_id: str | None = None
) -> list[WebhookDelivery]:
    statement = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))
    if endpoint_id is not None:
        statement = statement.where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    async with sessions() as session:
        return list((await session.exec(statement)).all())


async def settled(
    sessions: SessionFactory, expected: list[str], within: float = 5.0
) -> list[WebhookDelivery]:
    """Wait until the deliveries' statuses (sorted) are `expected`: the worker records an
    outcome just after the receiver has answered."""
    async with asyncio.timeout(within):
        while True:
            rows = await deliveries(sessions)
            if sorted(r.status for r in rows) == sorted(expected):
                return rows
            await asyncio.sleep(0.02)


async def endpoint_row(sessions: SessionFactory, endpoint_id: str) -> WebhookEndpoint:
    async with sessions() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row
