"""Golden MIME: a dynamic-template send with open, click and subscription tracking, a CID image,
an attachment and non-ASCII names, rendered through object storage on the local S3 server, is
byte-for-byte the file in tests/data/mime/. SCAISEND_UPDATE_GOLDENS=1 rewrites the file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.storage import S3Storage
from scaisend_worker.context import WorkerContext, open_context
from scaisend_worker.process.pipeline import Outcome, process_message
from tests.fixtures.messages import Attachment, MovableClock, make_message, worker_config
from tests.worker.support import add_template, body_of, parse, stored_mime

GOLDEN = Path(__file__).parents[1] / "data" / "mime" / "template_tracking_cid_attachment.eml"
MESSAGE_ID = "msg_01JSGOLDEN0000000000000000"
RECIPIENT_IDS = ["rcp_01JSGOLDEN00000000000000AD", "rcp_01JSGOLDEN00000000000000CC"]
HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Bestellung</title></head>
<body>
<img src="cid:logo" alt="Acme">
<h1>Grüß dich, {{first_name}}!</h1>
{{#if vip}}<p>VIP-Kunde seit {{formatDate since "MMMM YYYY"}}</p>{{else if trial}}<p>Testphase</p>{{/if}}
<ul>{{#each items}}<li><a href="https://shop.example/p/{{sku}}?ref=mail">{{name}}</a> – {{price}} €</li>{{/each}}</ul>
<p><a href="mailto:hilfe@shop.example">Hilfe</a> · <a href="{{{unsubscribe}}}">Abmelden</a></p>
</body></html>
"""


@pytest.fixture
async def s3_worker(
    test_env: dict[str, str],
    s3_env: dict[str, str],
    s3_storage: S3Storage,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> AsyncIterator[WorkerContext]:
    clock = MovableClock(datetime(2026, 4, 23, 10, 0, 0, tzinfo=UTC))
    async with open_context(worker_config({**test_env, **s3_env}), redis=redis, clock=clock) as app:
        assert isinstance(app.storage, S3Storage)
        yield app


async def test_template_send_with_tracking_cid_and_attachment_matches_the_golden_file(
    s3_worker: WorkerContext, sessions: SessionFactory, tenant: Tenant
) -> None:
    template, _ = await add_template(
        sessions, tenant, subject="Ihre Bestellung, {{first_name}} – {{order}}", html=HTML
    )
    made = await make_message(
        sessions, s3_worker.storage, tenant,
        message_id=MESSAGE_ID, recipient_ids=RECIPIENT_IDS,
        to=[("José Müller", "jose@example.test")], cc=[("Zoë Ærø, Einkauf", "zoe@example.test")],
        from_email="bestellungen@mail.example.test", from_name="Ünïcode Shop GmbH",
        reply_to=[{"email": "hilfe@shop.example", "name": "Kundenservice Süd"}],
        template_id=template.id, headers={"X-Order": "A-1001"}, categories=["orders"],
        dynamic_template_data={
            "first_name": "José", "order": "A-1001", "vip": True, "since": "2021-06-01T00:00:00Z",
            "items": [{"sku": "k1", "name": "Kaffee", "price": "9,90"},
                      {"sku": "t2", "name": "Tee & Gebäck", "price": "4,50"}],
        },
        tracking_settings={
            "click_tracking": {"enable": True}, "open_tracking": {"enable": True},
            "subscription_tracking": {"enable": True},
        },
        attachments=[
            Attachment(b"\x89PNG\r\n\x1a\n" + bytes(range(64)), "logo.png", "image/png", "inline", "logo"),
            Attachment(b"Nr;Betrag\n1;14,40\n" * 40, "Rechnung Nr. 1001 – März.csv", "text/csv"),
        ],
    )  # fmt: skip

    assert await process_message(s3_worker, made.id) == Outcome.RENDERED

    raw = await stored_mime(s3_worker, sessions, made.id)
    if os.environ.get("SCAISEND_UPDATE_GOLDENS"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(raw)
    assert raw == GOLDEN.read_bytes()
    parsed = parse(raw)
    assert parsed["Subject"] == "Ihre Bestellung, José – A-1001"
    assert parsed["From"].addresses[0].display_name == "Ünïcode Shop GmbH"
    assert parsed["List-Unsubscribe"].startswith("<http://scaisend.test/t/u/")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = body_of(parsed, "html")
    assert html.count("http://scaisend.test/t/c/") == 2
    assert '<a href="mailto:hilfe@shop.example">' in html
    assert "/t/o/" in html
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "multipart/related", "multipart/alternative", "text/plain",
        "text/html", "image/png", "text/csv",
    ]  # fmt: skip
