"""The official `sendgrid` Python SDK against a real `scaisend serve` process: a Mail built with
the SDK's helpers is accepted and stored as sent, and the SDK's typed errors carry our JSON
error bodies."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from python_http_client.exceptions import (
    BadRequestsError,
    ForbiddenError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Asm,
    Attachment,
    BypassBounceManagement,
    Category,
    ClickTracking,
    ContentId,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    FooterHtml,
    FooterSettings,
    FooterText,
    From,
    Ganalytics,
    GroupId,
    GroupsToDisplay,
    Header,
    Mail,
    MailSettings,
    OpenTracking,
    ReplyTo,
    SubscriptionTracking,
    To,
    TrackingSettings,
    UtmMedium,
    UtmSource,
)
from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, MessageAttachment, MessageRecipient, Tenant
from tests.api.helpers import SENDER_DOMAIN, add_asm_group, add_template, add_verified_domain
from tests.fixtures.factories import KeyFixture
from tests.fixtures.storage import free_port

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
CSV = b"sku,qty\nA-1,2\n"
LOGO = b"\x89PNG pretend"
START_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def server(test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`scaisend serve` on a free loopback port with the run's database, Redis and storage."""
    port = free_port()
    env = {**os.environ, **test_env, "API_HOST": "127.0.0.1", "API_PORT": str(port)}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "scaisend"), "serve"],
            env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Generous on purpose: a cold start imports every service module, slow on a loaded CI host."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scaisend serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"scaisend serve was not ready in {START_TIMEOUT:.0f} s:\n{log.read_text()}")


async def _sdk(call: Callable[[], T]) -> T:
    """The SDK is synchronous (urllib); keep the event loop free while it talks to the server."""
    return await asyncio.to_thread(call)


def _full_mail(template_id: str, group_id: int) -> Mail:
    mail = Mail(
        from_email=From(f"hello@{SENDER_DOMAIN}", "Acme"),
        to_emails=[To("ada@example.com", "Ada"), To("bob@example.com", "Bob")],
        is_multiple=True,
    )
    mail.template_id = template_id
    mail.dynamic_template_data = {"name": "Ada", "items": [{"sku": "A-1", "qty": 2}], "vip": True}
    mail.attachment = Attachment(
        FileContent(base64.b64encode(CSV).decode()), FileName("order.csv"), FileType("text/csv"),
        Disposition("attachment"),
    )  # fmt: skip
    mail.attachment = Attachment(
        FileContent(base64.b64encode(LOGO).decode()), FileName("logo.png"), FileType("image/png"),
        Disposition("inline"), ContentId("logo"),
    )  # fmt: skip
    mail.category = [Category("welcome"), Category("onboarding")]
    mail.custom_arg = [CustomArg("campaign", "c-7"), CustomArg("tenant_ref", "t-42")]
    mail.asm = Asm(GroupId(group_id), GroupsToDisplay([group_id]))
    mail.reply_to = ReplyTo("support@acme.test", "Support")
    mail.header = Header("X-Order", "42")
    mail.tracking_settings = _tracking()
    mail.mail_settings = _mail_settings()
    return mail


def _tracking() -> TrackingSettings:
    tracking = TrackingSettings()
    tracking.click_tracking = ClickTracking(True, False)
    tracking.open_tracking = OpenTracking(True)
    tracking.subscription_tracking = SubscriptionTracking(False)
    tracking.ganalytics = Ganalytics(True, UtmSource("newsletter"), UtmMedium("email"))
    return tracking


def _mail_settings() -> MailSettings:
    settings = MailSettings()
    settings.bypass_bounce_management = BypassBounceManagement(True)
    settings.footer_settings = FooterSettings(True, FooterText("Bye"), FooterHtml("<p>Bye</p>"))
    return settings


@pytest.fixture
async def sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


async def test_a_mail_built_with_the_sdk_helpers_is_stored(
    server: str, api_key: KeyFixture, sender: None, tenant: Tenant, sessions: SessionFactory,
    test_env: dict[str, str],
) -> None:  # fmt: skip
    template_id = await add_template(sessions, tenant.id)
    group_id = await add_asm_group(sessions, tenant.id)
    client = SendGridAPIClient(api_key=api_key.secret, host=server)
    response = await _sdk(lambda: client.send(_full_mail(template_id, group_id)))
    assert response.status_code == 202
    ids = json.loads(response.body)["message_ids"]
    assert response.headers["X-Message-Id"] == ids[0]
    async with sessions() as session:
        messages = (
            await session.exec(
                select(EmailMessage).order_by(col(EmailMessage.personalization_index))
            )
        ).all()
        recipients = (await session.exec(select(MessageRecipient))).all()
        attachments = (await session.exec(select(MessageAttachment))).all()
    assert [m.id for m in messages] == ids
    _assert_stored(messages, template_id, group_id)
    assert sorted((r.email, r.name) for r in recipients) == [
        ("ada@example.com", "Ada"), ("bob@example.com", "Bob"),
    ]  # fmt: skip
    assert len(attachments) == 4
    logo = next(a for a in attachments if a.filename == "logo.png")
    assert (logo.disposition, logo.content_id, logo.content_type) == ("inline", "logo", "image/png")
    stored = Path(test_env["STORAGE_DIR"]) / logo.storage_key
    assert stored.read_bytes() == LOGO


def _assert_stored(messages: Any, template_id: str, group_id: int) -> None:
    first = messages[0]
    assert all(m.status == "queued" for m in messages)
    assert (first.template_id, first.from_email, first.from_name) == (
        template_id, f"hello@{SENDER_DOMAIN}", "Acme",
    )  # fmt: skip
    # The SDK puts dynamic_template_data on the last-added personalization only.
    assert [m.dynamic_template_data for m in messages].count(
        {"name": "Ada", "items": [{"sku": "A-1", "qty": 2}], "vip": True}
    ) == 1
    assert sorted(first.categories) == ["onboarding", "welcome"]
    assert first.custom_args == {"campaign": "c-7", "tenant_ref": "t-42"}
    assert (first.asm_group_id, first.asm_groups_to_display) == (group_id, [group_id])
    assert first.reply_to == [{"email": "support@acme.test", "name": "Support"}]
    assert first.headers == {"X-Order": "42"}
    assert first.tracking_settings["click_tracking"] == {"enable": True, "enable_text": False}
    assert first.tracking_settings["ganalytics"]["utm_source"] == "newsletter"
    assert first.mail_settings["footer"] == {"enable": True, "text": "Bye", "html": "<p>Bye</p>"}
    assert first.mail_settings["bypass_bounce_management"] == {"enable": True}


async def test_a_400_raises_bad_requests_with_the_errors_array(
    server: str, api_key: KeyFixture, sender: None
) -> None:
    mail = Mail(
        from_email=f"hello@{SENDER_DOMAIN}", to_emails="ada@example.com",
        subject="Hi", plain_text_content="Hello",
    )  # fmt: skip
    mail.template_id = "13b8f94f-bcae-4ec6-b752-70d6cb59f932"  # a legacy template id
    client = SendGridAPIClient(api_key=api_key.secret, host=server)
    with pytest.raises(BadRequestsError) as raised:
        await _sdk(lambda: client.send(mail))
    errors = json.loads(raised.value.body)["errors"]
    assert {"message": "The template_id must start with 'd-'", "field": "template_id",
            "help": None} in errors  # fmt: skip
    assert raised.value.to_dict == {"errors": errors}


async def test_an_unverified_sender_raises_forbidden(server: str, api_key: KeyFixture) -> None:
    mail = Mail(
        from_email="hello@unverified.test", to_emails="ada@example.com",
        subject="Hi", plain_text_content="Hello",
    )  # fmt: skip
    client = SendGridAPIClient(api_key=api_key.secret, host=server)
    with pytest.raises(ForbiddenError) as raised:
        await _sdk(lambda: client.send(mail))
    assert json.loads(raised.value.body)["errors"][0] == {
        "message": "Sender domain not verified", "field": "from", "help": None,
    }  # fmt: skip


async def test_a_bad_key_raises_unauthorized(server: str) -> None:
    client = SendGridAPIClient(api_key="SG.not-a-scaisend-key", host=server)
    mail = Mail(from_email=f"hello@{SENDER_DOMAIN}", to_emails="a@example.com",
                subject="Hi", plain_text_content="Hello")  # fmt: skip
    with pytest.raises(UnauthorizedError) as raised:
        await _sdk(lambda: client.send(mail))
    assert json.loads(raised.value.body)["errors"][0]["message"] == "Invalid API key"


async def test_the_sdks_generic_client_manages_keys_and_batches(
    server: str, api_key: KeyFixture
) -> None:
    client = SendGridAPIClient(api_key=api_key.secret, host=server)
    created = await _sdk(
        lambda: client.client.api_keys.post(request_body={"name": "ci", "scopes": ["mail.send"]})
    )
    assert created.status_code == 201
    assert json.loads(created.body)["api_key"].startswith("sg_live_")
    scopes = await _sdk(lambda: client.client.scopes.get())
    assert "admin.api_keys" in json.loads(scopes.body)["scopes"]
    batch = await _sdk(lambda: client.client.mail.batch.post())
    batch_id = json.loads(batch.body)["batch_id"]
    status = await _sdk(lambda: client.client.mail.batch._(batch_id).get())
    assert json.loads(status.body)["batch_id"] == batch_id
