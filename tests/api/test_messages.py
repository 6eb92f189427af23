"""/v3/messages: filters and pagination, the detail with recipients and the event timeline,
cancel/retry/fail with their allowed states, reads open to any caller of the tenant and
invisible to other tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlmodel import col, select, update

from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.models import EmailMessage, MessageRecipient, Tenant
from scaisend_core.repositories.events import NewEvent, record_events
from tests.api.helpers import (
    SENDER_DOMAIN,
    add_batch,
    add_template,
    add_verified_domain,
    mail_body,
    queued_jobs,
)
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory


@pytest.fixture(autouse=True)
async def sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def _send(client: httpx.AsyncClient, key: KeyFixture, **fields: Any) -> str:
    response = await client.post("/v3/mail/send", headers=key.headers, json=mail_body(**fields))
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])


async def _set(sessions: SessionFactory, message_id: str, **values: Any) -> None:
    async with sessions() as session:
        await session.exec(
            update(EmailMessage).where(col(EmailMessage.id) == message_id).values(**values)
        )
        await session.commit()


async def _list(client: httpx.AsyncClient, key: KeyFixture, **params: Any) -> list[str]:
    response = await client.get("/v3/messages", headers=key.headers, params=params)
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["messages"]]


async def test_the_list_summarises_newest_first(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    older = await _send(client, api_key, categories=["onboarding"])
    newer = await _send(client, api_key)
    response = await client.get("/v3/messages", headers=api_key.headers)
    body = response.json()
    assert [m["id"] for m in body["messages"]] == [newer, older]
    assert (body["total"], body["page"], body["page_size"], body["total_pages"]) == (2, 1, 25, 1)
    summary = body["messages"][1]
    assert summary["status"] == "queued"
    assert summary["from_email"] == f"hello@{SENDER_DOMAIN}"
    assert summary["from_name"] == "Acme"
    assert summary["to_emails"] == ["ada@example.com"]
    assert summary["categories"] == ["onboarding"]
    assert summary["delivered_at"] is None


async def test_every_filter_narrows_the_list(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    template_id = await add_template(sessions, tenant.id)
    batch_id = await add_batch(sessions, tenant.id)
    plain = await _send(client, api_key, subject="Your invoice 100%_ready")
    tagged = await _send(client, api_key, categories=["billing", "eu"], batch_id=batch_id)
    templated = await _send(client, api_key, template_id=template_id, content=[])
    other_rcpt = await _send(client, api_key, personalizations=[{"to": [{"email": "bo@example.com"}], "cc": [{"email": "cy@example.com"}]}])  # fmt: skip
    await _set(sessions, plain, status="delivered")
    assert await _list(client, api_key, status="delivered") == [plain]
    assert await _list(client, api_key, subject="100%_") == [plain]
    assert await _list(client, api_key, category="eu") == [tagged]
    assert await _list(client, api_key, batch_id=batch_id) == [tagged]
    assert await _list(client, api_key, template_id=template_id) == [templated]
    assert await _list(client, api_key, to_email="cy@example.com") == [other_rcpt]
    assert await _list(client, api_key, from_email="nobody@acme.test") == []
    assert len(await _list(client, api_key, from_email=f"hello@{SENDER_DOMAIN}")) == 4


async def test_dates_filter_by_creation(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    march = await _send(client, api_key)
    april = await _send(client, api_key)
    await _set(sessions, march, created_at=datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    await _set(sessions, april, created_at=datetime(2026, 4, 1, 8, 0, tzinfo=UTC))
    assert await _list(client, api_key, end_date="2026-03-31") == [march]
    assert await _list(client, api_key, start_date="2026-04-01") == [april]
    assert await _list(client, api_key, start_date="2026-03-31T23:30:00Z") == [april]
    bad = await client.get("/v3/messages?start_date=yesterday", headers=api_key.headers)
    assert bad.status_code == 400
    assert bad.json() == {"detail": "start_date must be ISO-8601 or YYYY-MM-DD"}


async def test_pages(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    ids = [await _send(client, api_key) for _ in range(5)]
    response = await client.get("/v3/messages?page=3&page_size=2", headers=api_key.headers)
    body = response.json()
    assert (body["total"], body["total_pages"], body["page"]) == (5, 3, 3)
    assert [m["id"] for m in body["messages"]] == [ids[0]]
    too_big = await client.get("/v3/messages?page_size=101", headers=api_key.headers)
    assert too_big.status_code == 422


async def test_an_unknown_status_filter_is_400(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await client.get("/v3/messages?status=lost", headers=api_key.headers)
    assert response.status_code == 400


async def test_the_detail_has_recipients_settings_and_the_timeline(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, tenant: Tenant
) -> None:
    message_id = await _send(
        client, api_key, headers={"X-Order": "42"},
        tracking_settings={"open_tracking": {"enable": False}},
    )  # fmt: skip
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    async with sessions() as session:
        await record_events(session, [
            NewEvent(tenant.id, EventType.DELIVERED, message_id, "ada@example.com",
                     {"smtp_response": "250 ok"}, t0 + timedelta(seconds=5)),
            NewEvent(tenant.id, EventType.PROCESSED, message_id, "ada@example.com", {}, t0),
        ])  # fmt: skip
        await session.exec(update(MessageRecipient).values(status="delivered"))
        await session.commit()
    await _set(sessions, message_id, status="delivered", error_message=None)
    response = await client.get(f"/v3/messages/{message_id}", headers=api_key.headers)
    assert response.status_code == 200
    detail = response.json()
    assert detail["status"] == "delivered"
    assert detail["headers"] == {"X-Order": "42"}
    assert detail["message_id_header"] == f"<{message_id}@mta.scaisend.test>"
    assert detail["content"][1]["type"] == "text/html"
    assert detail["tracking_settings"] == {"open_tracking": {"enable": False}}
    assert detail["error_message"] is None
    assert [(r["email"], r["kind"], r["status"]) for r in detail["recipients"]] == [
        ("ada@example.com", "to", "delivered")
    ]
    events = detail["events"]
    assert [e["event_type"] for e in events] == ["processed", "delivered"]
    assert set(events[1]) == {
        "event_id", "event_type", "timestamp", "message_id", "recipient_email", "tenant_id",
        "metadata",
    }  # fmt: skip
    assert events[1]["timestamp"] == int((t0 + timedelta(seconds=5)).timestamp())
    assert events[1]["metadata"] == {"smtp_response": "250 ok"}
    assert events[1]["tenant_id"] == tenant.id


async def test_reads_need_no_particular_permission(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, key_factory: KeyFactory
) -> None:
    message_id = await _send(client, api_key)
    reader = await key_factory(tenant, scopes=[])
    assert await _list(client, reader) == [message_id]
    detail = await client.get(f"/v3/messages/{message_id}", headers=reader.headers)
    assert detail.status_code == 200


async def test_another_tenants_messages_do_not_exist(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory: TenantFactory,
    key_factory: KeyFactory,
) -> None:
    message_id = await _send(client, api_key)
    stranger = await key_factory(await tenant_factory("Other Inc"))
    assert await _list(client, stranger) == []
    for method, path in [
        ("GET", f"/v3/messages/{message_id}"),
        ("POST", f"/v3/messages/{message_id}/cancel"),
        ("POST", f"/v3/messages/{message_id}/retry"),
        ("POST", f"/v3/messages/{message_id}/fail"),
    ]:
        response = await client.request(method, path, headers=stranger.headers)
        assert response.status_code == 404, path
        assert response.json() == {"detail": f"Message not found: {message_id}"}


async def test_cancel_a_queued_message(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    message_id = await _send(client, api_key)
    response = await client.post(f"/v3/messages/{message_id}/cancel", headers=api_key.headers)
    assert response.status_code == 200
    assert response.json() == {"id": message_id, "status": "cancelled", "error_message": None}
    async with sessions() as session:
        assert (await session.get(EmailMessage, message_id)).status == "cancelled"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", ["sending", "delivered", "sandbox"])
async def test_cancel_is_refused_once_sending_started(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, status: str
) -> None:
    message_id = await _send(client, api_key)
    await _set(sessions, message_id, status=status)
    response = await client.post(f"/v3/messages/{message_id}/cancel", headers=api_key.headers)
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Message {message_id} cannot be cancelled: its status is {status} "
        "(allowed: queued, processing)"
    }


async def test_retry_requeues_with_a_new_attempt(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, redis: ArqRedis
) -> None:
    message_id = await _send(client, api_key)
    await redis.flushdb()
    await _set(sessions, message_id, status="bounced", error_message="550 no such user")
    async with sessions() as session:
        await session.exec(update(MessageRecipient).values(status="bounced"))
        await session.commit()
    response = await client.post(f"/v3/messages/{message_id}/retry", headers=api_key.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    async with sessions() as session:
        row = await session.get(EmailMessage, message_id)
        recipients = (await session.exec(select(MessageRecipient))).all()
    assert row is not None
    assert (row.status, row.attempts, row.error_message) == ("queued", 1, None)
    assert [r.status for r in recipients] == ["pending"]
    jobs = await queued_jobs(redis)
    assert [j["id"] for j in jobs] == [f"process_message:{message_id}:1"]


@pytest.mark.parametrize("status", ["cancelled", "sandbox", "queued", "delivered"])
async def test_retry_is_refused_from_other_states(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, status: str
) -> None:
    message_id = await _send(client, api_key)
    await _set(sessions, message_id, status=status)
    response = await client.post(f"/v3/messages/{message_id}/retry", headers=api_key.headers)
    assert response.status_code == 400
    assert f"its status is {status}" in response.json()["detail"]


async def test_fail_marks_a_stuck_message_with_the_reason(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    message_id = await _send(client, api_key)
    await _set(sessions, message_id, status="processing")
    response = await client.post(
        f"/v3/messages/{message_id}/fail", headers=api_key.headers, json={"reason": "worker lost"}
    )
    assert response.status_code == 200
    assert response.json() == {"id": message_id, "status": "failed", "error_message": "worker lost"}
    detail = await client.get(f"/v3/messages/{message_id}", headers=api_key.headers)
    assert detail.json()["error_message"] == "worker lost"


async def test_fail_without_a_reason_names_the_caller(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    message_id = await _send(client, api_key)
    response = await client.post(f"/v3/messages/{message_id}/fail", headers=api_key.headers)
    assert response.json()["error_message"] == f"Marked as failed by api_key {api_key.row.id}"


@pytest.mark.parametrize("status", ["sent", "delivered", "bounced", "cancelled"])
async def test_fail_is_refused_after_delivery_or_when_final(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory, status: str
) -> None:
    message_id = await _send(client, api_key)
    await _set(sessions, message_id, status=status)
    response = await client.post(f"/v3/messages/{message_id}/fail", headers=api_key.headers)
    assert response.status_code == 400
