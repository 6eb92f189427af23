"""Accepting mail: the references a send may name (templates, batches, ASM groups) and the bulk
insert of its messages, recipients and attachment rows (one statement per table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import (
    AsmGroup,
    EmailMessage,
    MailBatch,
    MessageAttachment,
    MessageRecipient,
    Template,
)


async def template_usable(session: AsyncSession, tenant_id: str, template_id: str) -> bool:
    """A dynamic template of this tenant that is not deleted."""
    statement = select(Template.id).where(
        col(Template.tenant_id) == tenant_id,
        col(Template.id) == template_id,
        col(Template.generation) == "dynamic",
        col(Template.deleted_at).is_(None),
    )
    return (await session.exec(statement)).first() is not None


async def batch_exists(session: AsyncSession, tenant_id: str, batch_id: str) -> bool:
    statement = select(MailBatch.id).where(
        col(MailBatch.tenant_id) == tenant_id, col(MailBatch.id) == batch_id
    )
    return (await session.exec(statement)).first() is not None


async def existing_asm_groups(
    session: AsyncSession, tenant_id: str, group_ids: Iterable[int]
) -> set[int]:
    statement = select(AsmGroup.id).where(
        col(AsmGroup.tenant_id) == tenant_id, col(AsmGroup.id).in_(set(group_ids))
    )
    return {int(i) for i in (await session.exec(statement)).all() if i is not None}


async def insert_accepted(
    session: AsyncSession,
    messages: Sequence[dict[str, Any]],
    recipients: Sequence[dict[str, Any]],
    attachments: Sequence[dict[str, Any]],
) -> None:
    """executemany per table (SQLAlchemy batches them into multi-row INSERTs): a
    1000-personalization send is a handful of statements, not thousands of flushes."""
    await session.exec(insert(EmailMessage), params=list(messages))
    if recipients:
        await session.exec(insert(MessageRecipient), params=list(recipients))
    if attachments:
        await session.exec(insert(MessageAttachment), params=list(attachments))


async def insert_accepted_rows(
    conn: AsyncConnection,
    messages: Sequence[dict[str, Any]],
    recipients: Sequence[dict[str, Any]],
    attachments: Sequence[dict[str, Any]],
) -> None:
    """The same rows through Core on a bare connection (the API's group commit): no ORM bulk
    machinery per row, one multi-row INSERT per table."""
    if messages:
        await conn.execute(insert(EmailMessage), list(messages))
    if recipients:
        await conn.execute(insert(MessageRecipient), list(recipients))
    if attachments:
        await conn.execute(insert(MessageAttachment), list(attachments))
