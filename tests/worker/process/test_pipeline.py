"""process_message end to end against MariaDB, Redis and storage: rendered MIME stored, state
and events written, delivery enqueued after commit; failures fail the message, not the worker."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.ids import new_id
from scaisend_core.models import MessageStatus, TemplateVersion, Tenant, WebhookEndpoint, utcnow
from scaisend_core.queue.contracts import SMTP_DELIVER, WEBHOOK_DELIVER
from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import Outcome, process_message
from tests.fixtures.messages import Attachment, MessageFactory
from tests.worker.support import (
    add_template,
    body_of,
    events,
    message_row,
    parse,
    queued,
    recipient_statuses,
    stored_mime,
)


async def test_a_queued_message_is_rendered_stored_and_handed_to_smtp(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    made = await message_factory(tenant, to=["ada@example.test", "bob@example.test"])

    outcome = await process_message(worker, made.id)

    assert outcome == Outcome.RENDERED
    row = await message_row(sessions, made.id)
    assert row.status == MessageStatus.RENDERED
    assert row.mime_key == f"mime/{tenant.id}/{made.id}.eml"
    raw = await worker.storage.get(row.mime_key)
    assert row.mime_size == len(raw)
    assert row.processed_at == worker.clock()
    assert await queued(redis, SMTP_DELIVER) == [f"deliver_message:{made.id}:0"]
    processed = [(e.event_type, e.recipient_email) for e in await events(sessions, made.id)]
    assert processed == [("processed", "ada@example.test"), ("processed", "bob@example.test")]


async def test_mime_carries_the_stable_ids_and_the_senders_headers(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    made = await message_factory(
        tenant,
        to=[("Ada Lovelace", "ada@example.test")],
        cc=["carol@example.test"],
        bcc=["hidden@example.test"],
        headers={"X-Order": "42"},
        reply_to=[{"email": "help@example.test", "name": "Help"}, {"email": "ops@example.test"}],
        tracking_settings={"open_tracking": {"enable": False}, "click_tracking": {"enable": False}},
    )

    await process_message(worker, made.id)

    raw = await stored_mime(worker, sessions, made.id)
    parsed = parse(raw)
    assert parsed["Message-ID"] == made.message.message_id_header
    assert parsed["X-ScaiSend-Message-Id"] == made.id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Date"] == format_datetime(worker.clock())
    assert parsed["X-Order"] == "42"
    assert parsed["To"] == "Ada Lovelace <ada@example.test>"
    assert parsed["Cc"] == "carol@example.test"
    assert parsed["Bcc"] is None
    assert b"hidden@example.test" not in raw
    assert parsed["Reply-To"] == "Help <help@example.test>, ops@example.test"
    assert parsed["Return-Path"] is None
    assert parsed.get_content_type() == "multipart/alternative"
    assert body_of(parsed, "plain") == "Hello Ada\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")


async def test_a_dynamic_template_renders_subject_html_and_generated_text(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    template, version = await add_template(
        sessions,
        tenant,
        subject="{{#if vip}}VIP {{/if}}order {{order.id}}",
        html="<html><body><h1>Hi {{name}}</h1>{{#each items}}<p>{{this}}</p>{{/each}}</body></html>",
    )
    made = await message_factory(
        tenant,
        template_id=template.id,
        subject="ignored",
        dynamic_template_data={"name": "Ada", "vip": True, "order": {"id": 7}, "items": ["a", "b"]},
        tracking_settings={"open_tracking": {"enable": False}},
    )

    await process_message(worker, made.id)

    parsed = parse(await stored_mime(worker, sessions, made.id))
    assert parsed["Subject"] == "VIP order 7"
    assert "<h1>Hi Ada</h1><p>a</p><p>b</p>" in body_of(parsed, "html")
    assert body_of(parsed, "plain") == "Hi Ada\n\na\n\nb\n"
    assert (await message_row(sessions, made.id)).template_version_id == version.id


async def test_a_render_error_fails_the_message_with_its_reason(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    template, _ = await add_template(sessions, tenant, html="<p>{{items.name}}</p>")
    made = await message_factory(
        tenant, template_id=template.id, dynamic_template_data={"items": [{"name": "x"}]}
    )

    outcome = await process_message(worker, made.id)

    assert outcome == Outcome.FAILED
    row = await message_row(sessions, made.id)
    assert row.status == MessageStatus.FAILED
    assert row.error_message is not None
    assert row.error_message.startswith("template rendering failed")
    assert await recipient_statuses(sessions, made.id) == {"ada@example.test": "failed"}
    assert await queued(redis, SMTP_DELIVER) == []


async def test_a_template_without_an_active_version_fails_the_message(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    made = await message_factory(tenant, template_id="d-" + "0" * 32)

    assert await process_message(worker, made.id) == Outcome.FAILED
    assert "no active version" in ((await message_row(sessions, made.id)).error_message or "")


async def test_a_cancelled_message_is_never_processed(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    made = await message_factory(tenant, status=MessageStatus.CANCELLED.value)

    assert await process_message(worker, made.id) == Outcome.SKIPPED
    row = await message_row(sessions, made.id)
    assert (row.status, row.mime_key) == (MessageStatus.CANCELLED, None)
    assert await events(sessions, made.id) == []
    assert await queued(redis, SMTP_DELIVER) == []


async def test_a_duplicate_job_does_nothing_the_second_time(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    made = await message_factory(tenant)

    first = await process_message(worker, made.id)
    second = await process_message(worker, made.id)

    assert (first, second) == (Outcome.RENDERED, Outcome.SKIPPED)
    assert len(await events(sessions, made.id)) == 1


async def test_an_unknown_message_is_reported_missing(worker: WorkerContext) -> None:
    assert await process_message(worker, new_id("msg")) == Outcome.MISSING


async def test_legacy_substitutions_and_sections_fill_raw_content(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    made = await message_factory(
        tenant,
        subject="Hello -name-",
        text="Dear -name-, -greeting-",
        html=None,
        substitutions={"-name-": "Ada", "-greeting-": "-morning-"},
        sections={"-morning-": "good morning"},
    )

    await process_message(worker, made.id)

    parsed = parse(await stored_mime(worker, sessions, made.id))
    assert parsed["Subject"] == "Hello Ada"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().strip() == "Dear Ada, good morning"


async def test_attachments_and_a_cid_image_are_streamed_into_the_mime(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    pdf = bytes(range(256)) * 400
    made = await message_factory(
        tenant,
        html='<html><body><img src="cid:logo"></body></html>',
        attachments=[
            Attachment(pdf, "invoice.pdf", "application/pdf"),
            Attachment(b"\x89PNG\r\n", "logo.png", "image/png", "inline", "logo"),
        ],
    )

    await process_message(worker, made.id)

    parsed = parse(await stored_mime(worker, sessions, made.id))
    assert parsed.get_content_type() == "multipart/mixed"
    kinds = [p.get_content_type() for p in parsed.walk()]
    assert kinds == [
        "multipart/mixed", "multipart/related", "multipart/alternative", "text/plain",
        "text/html", "image/png", "application/pdf",
    ]  # fmt: skip
    attachment = next(p for p in parsed.walk() if p.get_filename() == "invoice.pdf")
    assert attachment.get_payload(decode=True) == pdf
    image = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo>"


async def test_a_missing_attachment_object_fails_the_message(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    made = await message_factory(tenant, attachments=[Attachment(b"gone")])
    await worker.storage.delete(made.attachments[0].storage_key)

    assert await process_message(worker, made.id) == Outcome.FAILED
    assert "missing from object storage" in (
        (await message_row(sessions, made.id)).error_message or ""
    )


async def test_processed_events_create_webhook_deliveries_enqueued_after_commit(
    worker: WorkerContext,
    message_factory: MessageFactory,
    tenant: Tenant,
    sessions: SessionFactory,
    redis: ArqRedis,
) -> None:
    async with sessions() as session:
        endpoint = WebhookEndpoint(
            id=new_id("wh"), tenant_id=tenant.id, url="https://hooks.example.test/x",
            enabled_events=["processed"], signing_secret="v1.x.y",
        )  # fmt: skip
        session.add(endpoint)
        await session.commit()
    made = await message_factory(tenant)

    await process_message(worker, made.id)

    webhook_jobs = await queued(redis, WEBHOOK_DELIVER)
    assert len(webhook_jobs) == 1
    assert webhook_jobs[0].startswith("deliver_webhook:whd_")


async def test_a_patched_or_newly_activated_version_renders_for_the_next_message(
    worker: WorkerContext, message_factory: MessageFactory, tenant: Tenant, sessions: SessionFactory
) -> None:
    """Version sources are cached per process by (id, updated_at): a patch or an activation
    between two messages must still show in the second."""
    template, version = await add_template(sessions, tenant, subject="first")

    async def subject_of_next(**kw: object) -> str:
        made = await message_factory(tenant, template_id=template.id, **kw)
        assert await process_message(worker, made.id) == Outcome.RENDERED
        return str(parse(await stored_mime(worker, sessions, made.id))["Subject"])

    assert await subject_of_next() == "first"
    async with sessions() as session:
        row = await session.get(TemplateVersion, version.id)
        assert row is not None
        row.subject, row.updated_at = "patched", utcnow() + timedelta(seconds=1)
        await session.commit()
    assert await subject_of_next() == "patched"

    async with sessions() as session:
        row = await session.get(TemplateVersion, version.id)
        assert row is not None
        row.active = 0
        session.add(TemplateVersion(id=new_id("v"), tenant_id=tenant.id, template_id=template.id,
                                    name="v2", subject="second", active=1))  # fmt: skip
        await session.commit()
    assert await subject_of_next() == "second"
    assert await subject_of_next(template_version_id=version.id) == "patched"  # pinned
