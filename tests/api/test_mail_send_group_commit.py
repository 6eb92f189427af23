"""Group commit of /v3/mail/send: concurrent sends share transactions, yet each 202 means its
own rows are committed and queued, and one send whose rows cannot be written fails alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from scaisend_api.services.mail.committer import GroupCommitter
from scaisend_api.services.mail.rows import Context, Rows, build_rows
from scaisend_api.services.mail.validation import check_mail
from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, MessageRecipient, Tenant, utcnow
from tests.api.helpers import SENDER_DOMAIN, add_verified_domain, mail_body, queued_jobs, state_of
from tests.fixtures.factories import KeyFixture


@pytest.fixture
async def verified_sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def _count(sessions: SessionFactory, model: type[EmailMessage | MessageRecipient]) -> int:
    async with sessions() as session:
        return int((await session.exec(select(func.count(col(model.id))))).one())


@pytest.mark.usefixtures("verified_sender")
async def test_concurrent_sends_are_each_committed_and_queued(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    bodies = [
        mail_body(personalizations=[{"to": [{"email": f"r{i}@example.com"}]}]) for i in range(8)
    ]
    responses = await asyncio.gather(
        *(client.post("/v3/mail/send", headers=api_key.headers, json=b) for b in bodies)
    )
    assert [r.status_code for r in responses] == [202] * 8
    ids = {r.json()["message_id"] for r in responses}
    assert len(ids) == 8
    async with sessions() as session:
        rows = (await session.exec(select(EmailMessage.id))).all()
    assert set(rows) == ids
    assert await _count(sessions, MessageRecipient) == 8
    assert {j["message_id"] for j in await queued_jobs(redis)} == ids


def _rows(tenant_id: str, email: str) -> Rows:
    checked = check_mail(mail_body(personalizations=[{"to": [{"email": email}]}]), 0)
    assert checked.request is not None
    ctx = Context(tenant_id, None, "mta.scaisend.test", sandbox=False, now=utcnow())
    return build_rows(checked.request, ctx)


async def test_one_unwritable_send_fails_alone(
    client: httpx.AsyncClient, tenant: Tenant, sessions: SessionFactory, redis: ArqRedis
) -> None:
    committer = GroupCommitter(state_of(client).engine)
    good, bad = _rows(tenant.id, "good@example.com"), _rows(tenant.id, "bad@example.com")
    bad.messages[0]["id"] = good.messages[0]["id"]
    bad.recipients[0]["message_id"] = good.messages[0]["id"]
    results = await asyncio.gather(
        committer.submit(good, redis), committer.submit(bad, redis),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] is None
    assert isinstance(results[1], IntegrityError)
    assert await _count(sessions, EmailMessage) == 1
    assert await _count(sessions, MessageRecipient) == 1
    assert [j["message_id"] for j in await queued_jobs(redis)] == [good.messages[0]["id"]]
