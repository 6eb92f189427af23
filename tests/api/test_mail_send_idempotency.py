"""Idempotency-Key on /v3/mail/send: a repeat of the same body within 24 h gets the first
response and sends nothing new; another body with the key is 409; concurrent duplicates send
once; keys are per tenant and expire."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from arq.connections import ArqRedis
from sqlmodel import func, select, update

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, IdempotencyKey, Tenant, utcnow
from tests.api.helpers import SENDER_DOMAIN, add_verified_domain, mail_body, queued_jobs
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory


@pytest.fixture(autouse=True)
async def sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def _send(
    client: httpx.AsyncClient, key: KeyFixture, idem: str, **fields: object
) -> httpx.Response:
    headers = {**key.headers, "Idempotency-Key": idem}
    return await client.post("/v3/mail/send", headers=headers, json=mail_body(**fields))


async def _count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(EmailMessage))).one()


async def test_a_repeat_gets_the_first_response_and_sends_nothing(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    first = await _send(client, api_key, "order-42")
    again = await _send(client, api_key, "order-42")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["x-message-id"] == first.headers["x-message-id"]
    assert await _count(sessions) == 1
    assert len(await queued_jobs(redis)) == 1


async def test_the_key_with_another_body_is_409(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    await _send(client, api_key, "order-42")
    response = await _send(client, api_key, "order-42", subject="Something else")
    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {
                "message": "This Idempotency-Key was already used with a different request body",
                "field": None,
                "help": None,
            }
        ]
    }
    assert await _count(sessions) == 1


async def test_concurrent_duplicates_send_once(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    responses = await asyncio.gather(*(_send(client, api_key, "burst") for _ in range(5)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["message_id"] for r in responses}) == 1
    assert await _count(sessions) == 1
    assert len(await queued_jobs(redis)) == 1


async def test_keys_are_per_tenant(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    sessions: SessionFactory,
    tenant_factory: TenantFactory,
    key_factory: KeyFactory,
) -> None:
    other = await tenant_factory("Other Inc")
    await add_verified_domain(sessions, other.id, SENDER_DOMAIN)
    other_key = await key_factory(other)
    mine = await _send(client, api_key, "shared-key")
    theirs = await _send(client, other_key, "shared-key")
    assert mine.json() != theirs.json()
    assert await _count(sessions) == 2


async def test_an_expired_key_sends_again(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    first = await _send(client, api_key, "daily")
    async with sessions() as session:
        await session.exec(
            update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    second = await _send(client, api_key, "daily")
    assert second.status_code == 202
    assert second.json() != first.json()
    assert await _count(sessions) == 2


async def test_a_rejected_request_does_not_use_up_the_key(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    assert (await _send(client, api_key, "retry-me", subject="")).status_code == 400
    assert (await _send(client, api_key, "retry-me")).status_code == 202
    async with sessions() as session:
        stored = (await session.exec(select(IdempotencyKey))).all()
    assert [(k.key, k.response_status) for k in stored] == [("retry-me", 202)]
    assert stored[0].expires_at - stored[0].created_at == timedelta(hours=24)


async def test_an_overlong_key_is_400(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    response = await _send(client, api_key, "k" * 256)
    assert response.status_code == 400
