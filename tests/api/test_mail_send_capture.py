"""POST /v3/mail/send and SMTP_DELIVERY: capture mode (`scaisend up`) accepts any From domain,
because nothing leaves the machine; mx and smarthost require a verified sender domain."""

from __future__ import annotations

import httpx
import pytest
from arq.connections import ArqRedis
from sqlmodel import select

from scaisend_api.settings import ApiSettings
from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage
from tests.api.helpers import mail_body, queued_jobs
from tests.fixtures.factories import KeyFixture

UNVERIFIED = {"email": "hello@never-verified.test", "name": "Local"}


@pytest.fixture(params=["capture", "mx", "smarthost"])
def api_settings(test_env: dict[str, str], request: pytest.FixtureRequest) -> ApiSettings:
    env = {k.lower(): v for k, v in test_env.items()}
    return ApiSettings(**{**env, "smtp_delivery": request.param, "smtp_smarthost": "127.0.0.1:1"})


async def test_only_capture_mode_accepts_an_unverified_from_domain(
    client: httpx.AsyncClient,
    api_settings: ApiSettings,
    api_key: KeyFixture,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    body = mail_body(
        personalizations=[
            {"to": [{"email": "a@example.com"}]},
            {"to": [{"email": "b@example.com"}], "from": {"email": "x@other-unverified.test"}},
        ],
        **{"from": UNVERIFIED},
    )
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    async with sessions() as session:
        rows = (await session.exec(select(EmailMessage))).all()
    if api_settings.smtp_delivery == "capture":
        assert response.status_code == 202
        assert sorted(r.from_email for r in rows) == [
            "hello@never-verified.test",
            "x@other-unverified.test",
        ]
        assert {r.sandbox for r in rows} == {False}
        assert len(await queued_jobs(redis)) == 2
    else:
        assert response.status_code == 403
        assert response.json() == {
            "errors": [{"message": "Sender domain not verified", "field": "from", "help": None}]
        }
        assert rows == []
        assert await queued_jobs(redis) == []
