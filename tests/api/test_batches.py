"""/v3/mail/batch and /v3/user/scheduled_sends: batch ids, per-status message counts, and the
pause/cancel control stored on the batch (SendGrid's shapes and errors[] bodies)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import col, update

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, MailBatch, Tenant
from tests.api.helpers import SENDER_DOMAIN, add_batch, add_verified_domain, mail_body
from tests.fixtures.factories import KeyFactory, KeyFixture, TenantFactory


async def _batch(client: httpx.AsyncClient, key: KeyFixture) -> str:
    response = await client.post("/v3/mail/batch", headers=key.headers)
    assert response.status_code == 201
    return str(response.json()["batch_id"])


async def test_a_batch_counts_its_messages_by_status(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, sessions: SessionFactory
) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)
    batch_id = await _batch(client, api_key)
    assert batch_id.startswith("batch_")
    body = mail_body(
        batch_id=batch_id,
        personalizations=[{"to": [{"email": f"r{i}@example.com"}]} for i in range(3)],
    )
    ids = (await client.post("/v3/mail/send", headers=api_key.headers, json=body)).json()
    async with sessions() as session:
        first = ids["message_ids"][0]
        await session.exec(
            update(EmailMessage).where(col(EmailMessage.id) == first).values(status="delivered")
        )
        await session.commit()
    response = await client.get(f"/v3/mail/batch/{batch_id}", headers=api_key.headers)
    assert response.status_code == 200
    assert response.json() == {
        "batch_id": batch_id,
        "status": None,
        "counts": {"queued": 2, "delivered": 1},
        "total": 3,
    }


async def test_an_unknown_or_foreign_batch_is_404(
    client: httpx.AsyncClient,
    api_key: KeyFixture,
    tenant_factory: TenantFactory,
    sessions: SessionFactory,
) -> None:
    foreign = await add_batch(sessions, (await tenant_factory("Other Inc")).id, status="pause")
    for path in (f"/v3/mail/batch/{foreign}", f"/v3/user/scheduled_sends/{foreign}"):
        response = await client.get(path, headers=api_key.headers)
        assert response.status_code == 404
        assert response.json()["errors"][0]["message"] == "batch id not found"
    listed = await client.get("/v3/user/scheduled_sends", headers=api_key.headers)
    assert listed.json() == []
    for method in ("PATCH", "DELETE"):
        response = await client.request(
            method, f"/v3/user/scheduled_sends/{foreign}", headers=api_key.headers,
            json={"status": "cancel"},
        )  # fmt: skip
        assert response.status_code == 404


async def test_pause_then_cancel_then_resume(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    batch_id = await _batch(client, api_key)
    created = await client.post(
        "/v3/user/scheduled_sends",
        headers=api_key.headers,
        json={"batch_id": batch_id, "status": "pause"},
    )
    assert created.status_code == 201
    assert created.json() == {"batch_id": batch_id, "status": "pause"}
    one = await client.get(f"/v3/user/scheduled_sends/{batch_id}", headers=api_key.headers)
    assert one.json() == [{"batch_id": batch_id, "status": "pause"}]
    patched = await client.patch(
        f"/v3/user/scheduled_sends/{batch_id}", headers=api_key.headers, json={"status": "cancel"}
    )
    assert patched.status_code == 204
    async with sessions() as session:
        assert (await session.get(MailBatch, batch_id)).status == "cancel"  # type: ignore[union-attr]
    listed = await client.get("/v3/user/scheduled_sends", headers=api_key.headers)
    assert listed.json() == [{"batch_id": batch_id, "status": "cancel"}]
    deleted = await client.delete(f"/v3/user/scheduled_sends/{batch_id}", headers=api_key.headers)
    assert deleted.status_code == 204
    async with sessions() as session:
        assert (await session.get(MailBatch, batch_id)).status is None  # type: ignore[union-attr]
    assert (
        await client.get(f"/v3/user/scheduled_sends/{batch_id}", headers=api_key.headers)
    ).json() == []


async def test_a_second_control_on_a_batch_is_400(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    batch_id = await _batch(client, api_key)
    body = {"batch_id": batch_id, "status": "pause"}
    await client.post("/v3/user/scheduled_sends", headers=api_key.headers, json=body)
    again = await client.post("/v3/user/scheduled_sends", headers=api_key.headers, json=body)
    assert again.status_code == 400
    assert again.json()["errors"] == [
        {
            "message": "The batch is already paused; use PATCH to change its status",
            "field": "batch_id",
            "help": None,
        }
    ]


async def test_a_bad_status_is_400_in_the_errors_shape(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    batch_id = await _batch(client, api_key)
    response = await client.post(
        "/v3/user/scheduled_sends",
        headers=api_key.headers,
        json={"batch_id": batch_id, "status": "stop"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("POST", "/v3/mail/batch", "mail.schedule"),
        ("GET", "/v3/user/scheduled_sends", "mail.schedule"),
        ("POST", "/v3/user/scheduled_sends", "mail.cancel"),
    ],
)
async def test_reads_need_schedule_and_controls_need_cancel(
    client: httpx.AsyncClient, tenant: Tenant, key_factory: KeyFactory, method: str, path: str,
    needs: str,
) -> None:  # fmt: skip
    others = [p for p in ("mail.send", "mail.schedule", "mail.cancel") if p != needs]
    key = await key_factory(tenant, scopes=others)
    response = await client.request(method, path, headers=key.headers, json={})
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == f"Missing required scope: {needs}"
