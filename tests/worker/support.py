"""Helpers for worker tests: queued job ids, rows after processing, stored MIME, templates."""

from __future__ import annotations

import email
from email.message import EmailMessage as ParsedMessage
from email.policy import default as default_policy

from arq.connections import ArqRedis
from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.ids import new_id, new_template_id
from scaisend_core.models import (
    EmailMessage,
    MessageEvent,
    MessageRecipient,
    Template,
    TemplateVersion,
    Tenant,
)
from scaisend_worker.context import WorkerContext


async def queued(redis: ArqRedis, queue: str) -> list[str]:
    return [job_id.decode() for job_id in await redis.zrange(queue, 0, -1)]


async def message_row(sessions: SessionFactory, message_id: str) -> EmailMessage:
    async with sessions() as session:
        row = await session.get(EmailMessage, message_id)
        assert row is not None
        return row


async def recipient_statuses(sessions: SessionFactory, message_id: str) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.exec(
            select(MessageRecipient).where(col(MessageRecipient.message_id) == message_id)
        )
        return {r.email: r.status for r in rows.all()}


async def events(sessions: SessionFactory, message_id: str) -> list[MessageEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(MessageEvent)
            .where(col(MessageEvent.message_id) == message_id)
            .order_by(col(MessageEvent.event_type), col(MessageEvent.recipient_email))
        )
        return list(rows.all())


async def stored_mime(app: WorkerContext, sessions: SessionFactory, message_id: str) -> bytes:
    row = await message_row(sessions, message_id)
    assert row.mime_key is not None
    return await app.storage.get(row.mime_key)


def parse(raw: bytes) -> ParsedMessage:
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, ParsedMessage)
    return parsed


def body_of(parsed: ParsedMessage, subtype: str) -> str:
    part = parsed.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


async def add_template(
    sessions: SessionFactory,
    tenant: Tenant,
    *,
    subject: str | None = "Hi {{name}}",
    html: str | None = "<html><body><p>Hello {{name}}</p></body></html>",
    plain: str | None = None,
    generate_plain: bool = True,
    dynamic: bool = True,
) -> tuple[Template, TemplateVersion]:
    template_id = new_template_id() if dynamic else "0d3b2a9e-1111-4222-8333-944455556666"
    template = Template(
        id=template_id, tenant_id=tenant.id, name=f"t-{template_id[-6:]}",
        generation="dynamic" if dynamic else "legacy",
    )  # fmt: skip
    version = TemplateVersion(
        id=new_id("v"), tenant_id=tenant.id, template_id=template.id, name="v1", subject=subject,
        html_content=html, plain_content=plain, generate_plain_content=generate_plain, active=1,
    )  # fmt: skip
    async with sessions() as session:
        session.add(template)
        await session.flush()
        session.add(version)
        await session.commit()
    return template, version
