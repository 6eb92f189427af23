"""POST /v3/mail/send: accepted mail is committed (messages, recipients, attachments in object
storage) before the 202, then queued for the worker; sender domains, sandbox and scheduling."""

from __future__ import annotations

import asyncio
import base64
import gzip
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from arq.connections import ArqRedis
from sqlmodel import col, select, update

from scaisend_core.db import SessionFactory
from scaisend_core.models import (
    EmailMessage,
    MessageAttachment,
    MessageEvent,
    MessageRecipient,
    SenderDomain,
    Tenant,
)
from tests.api.helpers import (
    SENDER_DOMAIN,
    add_asm_group,
    add_batch,
    add_template,
    add_verified_domain,
    mail_body,
    queued_jobs,
    state_of,
)
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory

pytestmark = pytest.mark.usefixtures("verified_sender")


@pytest.fixture
async def verified_sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def _messages(sessions: SessionFactory) -> list[EmailMessage]:
    async with sessions() as session:
        statement = select(EmailMessage).order_by(col(EmailMessage.personalization_index))
        return list((await session.exec(statement)).all())


async def _recipients(sessions: SessionFactory, message_id: str) -> list[MessageRecipient]:
    async with sessions() as session:
        statement = select(MessageRecipient).where(MessageRecipient.message_id == message_id)
        return list((await session.exec(statement)).all())


async def test_a_live_send_is_committed_then_queued(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=mail_body())
    assert response.status_code == 202
    message_id = response.json()["message_id"]
    assert response.headers["x-message-id"] == message_id
    [row] = await _messages(sessions)
    assert row.id == message_id
    assert row.status == "queued"
    assert row.sandbox is False
    assert (row.from_email, row.from_name, row.subject) == (
        f"hello@{SENDER_DOMAIN}",
        "Acme",
        "Welcome to Acme",
    )
    assert row.content[0] == {"type": "text/plain", "value": "Welcome, Ada!"}
    assert row.message_id_header == f"<{message_id}@mta.scaisend.test>"
    assert row.api_key_id == api_key.row.id
    assert row.send_at is None
    [recipient] = await _recipients(sessions, message_id)
    assert (recipient.kind, recipient.email, recipient.name, recipient.status) == (
        "to",
        "ada@example.com",
        "Ada",
        "pending",
    )
    assert await queued_jobs(redis) == [
        {
            "id": f"process_message:{message_id}:0",
            "function": "process_message",
            "message_id": message_id,
            "attempt": 0,
        }
    ]


async def test_each_personalization_is_one_message(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    body = mail_body(
        personalizations=[
            {"to": [{"email": "a@example.com"}], "cc": [{"email": "c@example.com"}]},
            {"to": [{"email": "b@example.com"}], "bcc": [{"email": "d@example.com"}]},
        ]
    )
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 202
    ids = response.json()["message_ids"]
    assert response.headers["x-message-id"] == ids[0]
    rows = await _messages(sessions)
    assert [r.id for r in rows] == ids
    assert [r.personalization_index for r in rows] == [0, 1]
    kinds = {(r.kind, r.email) for r in await _recipients(sessions, ids[1])}
    assert kinds == {("to", "b@example.com"), ("bcc", "d@example.com")}
    assert sorted(j["message_id"] for j in await queued_jobs(redis)) == sorted(ids)


async def test_personalization_values_override_and_merge(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    await add_verified_domain(sessions, tenant.id, "other.acme.test")
    body = mail_body(
        headers={"X-Campaign": "spring", "X-Keep": "top"},
        custom_args={"campaign": "c-7", "tier": "free"},
        categories=["welcome"],
        personalizations=[
            {
                "to": [{"email": "a@example.com"}],
                "subject": "Hi Ada",
                "headers": {"x-campaign": "ada"},
                "custom_args": {"tier": "pro"},
                "substitutions": {"-name-": "Ada"},
                "from": {"email": "team@other.acme.test"},
            }
        ],
    )
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
    [row] = await _messages(sessions)
    assert row.subject == "Hi Ada"
    assert row.from_email == "team@other.acme.test"
    assert row.headers == {"X-Keep": "top", "x-campaign": "ada"}
    assert row.custom_args == {"campaign": "c-7", "tier": "pro"}
    assert row.substitutions == {"-name-": "Ada"}
    assert row.categories == ["welcome"]


async def test_every_documented_field_is_stored(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    template_id = await add_template(sessions, tenant.id)
    batch_id = await add_batch(sessions, tenant.id)
    group = await add_asm_group(sessions, tenant.id)
    body = mail_body(
        content=None,
        template_id=template_id,
        batch_id=batch_id,
        asm={"group_id": group, "groups_to_display": [group]},
        ip_pool_name="transactional",
        reply_to_list=[{"email": "support@acme.test", "name": "Support"}],
        sections={"%footer%": "Bye"},
        mail_settings={"bypass_bounce_management": {"enable": True}, "footer": {"enable": False}},
        tracking_settings={"click_tracking": {"enable": True, "enable_text": False}},
        personalizations=[
            {"to": [{"email": "a@example.com"}], "dynamic_template_data": {"name": "Ada"}}
        ],
    )
    body.pop("content")
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
    [row] = await _messages(sessions)
    assert (row.template_id, row.batch_id, row.ip_pool_name) == (
        template_id,
        batch_id,
        "transactional",
    )
    assert (row.asm_group_id, row.asm_groups_to_display) == (group, [group])
    assert row.dynamic_template_data == {"name": "Ada"}
    assert row.reply_to == [{"email": "support@acme.test", "name": "Support"}]
    assert row.sections == {"%footer%": "Bye"}
    assert row.mail_settings["bypass_bounce_management"] == {"enable": True}
    assert row.tracking_settings == {"click_tracking": {"enable": True, "enable_text": False}}
    assert row.content == []


async def test_attachments_go_to_object_storage_once(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    pdf = b"%PDF-1.4 pretend invoice" * 100
    body = mail_body(
        personalizations=[{"to": [{"email": f"r{i}@example.com"}]} for i in range(3)],
        attachments=[
            {"content": base64.b64encode(pdf).decode(), "filename": "invoice.pdf",
             "type": "application/pdf"},
            {"content": base64.b64encode(b"png").decode(), "filename": "logo.png",
             "type": "image/png", "disposition": "inline", "content_id": "logo"},
        ],
    )  # fmt: skip
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 202
    async with sessions() as session:
        rows = (await session.exec(select(MessageAttachment))).all()
    assert len(rows) == 6
    invoice = [r for r in rows if r.filename == "invoice.pdf"]
    assert {r.storage_key for r in invoice} == {f"attachments/{tenant.id}/{invoice[0].sha256}"}
    assert {(r.size, r.content_type, r.disposition, r.position) for r in invoice} == {
        (len(pdf), "application/pdf", "attachment", 0)
    }
    logo = next(r for r in rows if r.filename == "logo.png")
    assert (logo.disposition, logo.content_id) == ("inline", "logo")
    storage = state_of(client).storage
    assert await storage.get(invoice[0].storage_key) == pdf


async def test_an_unverified_sender_domain_is_403(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    body = mail_body(**{"from": {"email": "hello@unverified.test"}})
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 403
    assert response.json() == {
        "errors": [{"message": "Sender domain not verified", "field": "from", "help": None}]
    }
    assert await _messages(sessions) == []
    assert await queued_jobs(redis) == []


async def test_concurrent_sends_each_get_their_own_sender_domain_answer(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory: TenantFactory,
    key_factory: KeyFactory,
    sessions: SessionFactory,
) -> None:
    """Sender-domain checks of sends in flight together share one statement; each send is
    still answered for its own tenant and domain (another tenant's verified domain is not
    yours, a deactivated one is refused the moment it is deactivated)."""
    other_key = await key_factory(await tenant_factory("Other Co"))
    await add_verified_domain(sessions, api_key.row.tenant_id, "off.test")
    async with sessions() as session:
        await session.exec(
            update(SenderDomain)
            .where(col(SenderDomain.domain) == "off.test")
            .values(is_active=False)
        )
        await session.commit()
    sends = [
        (api_key, SENDER_DOMAIN),
        (other_key, SENDER_DOMAIN),
        (api_key, "off.test"),
        (api_key, "unverified.test"),
        (api_key, SENDER_DOMAIN),
    ]
    responses = await asyncio.gather(*(
        client.post("/v3/mail/send", headers=key.headers,
                    json=mail_body(**{"from": {"email": f"hello@{domain}"}}))
        for key, domain in sends
    ))  # fmt: skip
    assert [r.status_code for r in responses] == [202, 403, 403, 403, 202]
    assert len(await _messages(sessions)) == 2


async def test_a_personalization_from_needs_a_verified_domain_too(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    body = mail_body(
        personalizations=[
            {"to": [{"email": "a@example.com"}]},
            {"to": [{"email": "b@example.com"}], "from": {"email": "x@unverified.test"}},
        ]
    )
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "personalizations.1.from"


async def test_an_inactive_domain_cannot_send(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        await session.exec(update(SenderDomain).values(is_active=False))
        await session.commit()
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=mail_body())
    assert response.status_code == 403


async def test_a_test_key_sends_to_the_sandbox(
    client: httpx.AsyncClient,
    tenant: Tenant,
    key_factory: KeyFactory,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    key = await key_factory(tenant, environment="test")
    body = mail_body(**{"from": {"email": "hello@unverified.test"}})
    response = await client.post("/v3/mail/send", headers=key.headers, json=body)
    assert response.status_code == 202
    [row] = await _messages(sessions)
    assert response.json() == {"message_id": row.id}
    assert (row.status, row.sandbox) == ("sandbox", True)
    assert await queued_jobs(redis) == []
    async with sessions() as session:
        assert (await session.exec(select(MessageEvent))).all() == []


async def test_sandbox_mode_on_a_live_key(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    body = mail_body(mail_settings={"sandbox_mode": {"enable": True}})
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 202
    [row] = await _messages(sessions)
    assert row.status == "sandbox"
    assert await queued_jobs(redis) == []
    async with sessions() as session:
        assert (await session.exec(select(MessageEvent))).all() == []


async def test_a_future_send_at_waits_queued_without_a_job(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    send_at = int(datetime.now(UTC).timestamp()) + 3600
    body = mail_body(send_at=send_at)
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
    [row] = await _messages(sessions)
    assert row.status == "queued"
    assert row.send_at == datetime.fromtimestamp(send_at, UTC)
    assert await queued_jobs(redis) == []


async def test_a_past_send_at_means_now(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    body = mail_body(send_at=1_600_000_000)
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
    [row] = await _messages(sessions)
    assert row.send_at is None
    assert len(await queued_jobs(redis)) == 1


@pytest.mark.parametrize(
    ("field", "value"), [("send_at", "future"), ("batch_id", "batch")], ids=["send_at", "batch"]
)
async def test_scheduling_needs_mail_schedule(
    client: httpx.AsyncClient,
    tenant: Tenant,
    key_factory: KeyFactory,
    sessions: SessionFactory,
    field: str,
    value: str,
) -> None:
    key = await key_factory(tenant, scopes=["mail.send"])
    if field == "send_at":
        body = mail_body(send_at=int(datetime.now(UTC).timestamp()) + 600)
    else:
        body = mail_body(batch_id=await add_batch(sessions, tenant.id))
    response = await client.post("/v3/mail/send", headers=key.headers, json=body)
    assert response.status_code == 403
    assert response.json() == {
        "errors": [
            {"message": "Missing required scope: mail.schedule", "field": field, "help": None}
        ]
    }
    assert await _messages(sessions) == []


async def test_missing_mail_send_is_403_in_the_errors_shape(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory
) -> None:
    key = await key_factory(tenant, scopes=["mail.schedule"])
    response = await client.post("/v3/mail/send", headers=key.headers, json=mail_body())
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "Missing required scope: mail.send"


async def test_a_bad_key_is_401_in_the_errors_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v3/mail/send", headers={"Authorization": "Bearer sg_live_" + "0" * 32}, json=mail_body()
    )
    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"message": "Invalid API key", "field": None, "help": None}]
    }


async def test_a_gzipped_body_is_accepted(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    response = await client.post(
        "/v3/mail/send",
        headers={**api_key.headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        content=gzip.compress(orjson.dumps(mail_body())),
    )
    assert response.status_code == 202
    assert len(await _messages(sessions)) == 1


async def test_a_body_over_20_mb_is_413(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    big = base64.b64encode(b"\0" * (15 * 1024 * 1024 + 1)).decode()
    body = mail_body(attachments=[{"content": big, "filename": "big.bin"}])
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 413
    assert response.json() == {
        "errors": [{"message": "content too large", "field": None, "help": None}]
    }
    assert await _messages(sessions) == []


async def test_accepted_mail_survives_redis_being_down(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    state = state_of(client)
    live = state.redis
    state.redis = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        response = await client.post("/v3/mail/send", headers=api_key.headers, json=mail_body())
    finally:
        await state.redis.aclose()
        state.redis = live
    assert response.status_code == 202
    [row] = await _messages(sessions)
    assert row.id == response.json()["message_id"]
    assert row.status == "queued"


async def test_openapi_documents_the_request_and_response(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v3/mail/send"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"personalizations", "from", "template_id", "attachments", "asm"} <= set(
        schema["properties"]
    )
    assert "$ref" not in orjson.dumps(schema).decode()
    assert "X-Message-Id" in operation["responses"]["202"]["headers"]
