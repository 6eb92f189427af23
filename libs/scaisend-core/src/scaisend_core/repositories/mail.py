"""Accepting mail: the references a send may name (templates, batches, ASM groups), read through
`Reads` like the rest of the send path's lookups, and the bulk insert of its messages,
recipients and attachment rows (one statement per table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.db import Reads
from scaisend_core.models import EmailMessage, MessageAttachment, MessageRecipient


async def template_usable(reads: Reads, tenant_id: str, template_id: str) -> bool:
    """A dynamic template of this tenant that is not deleted."""
    statement = (
        "SELECT 1 FROM templates WHERE tenant_id = :tenant_id AND id = :template_id"
        " AND generation = 'dynamic' AND deleted_at IS NULL"
    )
    params = {"tenant_id": tenant_id, "template_id": template_id}
    return await reads.first(statement, params) is not None


async def batch_exists(reads: Reads, tenant_id: str, batch_id: str) -> bool:
    statement = "SELECT 1 FROM mail_batches WHERE tenant_id = :tenant_id AND id = :batch_id"
    return await reads.first(statement, {"tenant_id": tenant_id, "batch_id": batch_id}) is not None


async def existing_asm_groups(reads: Reads, tenant_id: str, group_ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(group_ids))
    if not wanted:
        return set()
    params: dict[str, object] = {f"g{i}": group_id for i, group_id in enumerate(wanted)}
    params["tenant_id"] = tenant_id
    rows = await reads.all(_asm_groups_statement(len(wanted)), params)
    return {int(row[0]) for row in rows}


@lru_cache(maxsize=64)
def _asm_groups_statement(count: int) -> str:
    """Placeholders only: the ids themselves are bound parameters."""
    names = ", ".join(f":g{i}" for i in range(count))
    return _ASM_GROUPS_SQL.format(names=names)


_ASM_GROUPS_SQL = "SELECT id FROM asm_groups WHERE tenant_id = :tenant_id AND id IN ({names})"


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
    reads: Reads,
    messages: Sequence[dict[str, Any]],
    recipients: Sequence[dict[str, Any]],
    attachments: Sequence[dict[str, Any]],
) -> None:
    """The same rows in one transaction of their own (the API's group commit), one multi-row
    INSERT per table, straight through the driver on MySQL (db.Reads.insert_many)."""
    await reads.insert_many(
        [(_MESSAGES, messages), (_RECIPIENTS, recipients), (_ATTACHMENTS, attachments)]
    )


_MESSAGES: Table = EmailMessage.__table__  # type: ignore[attr-defined]
_RECIPIENTS: Table = MessageRecipient.__table__  # type: ignore[attr-defined]
_ATTACHMENTS: Table = MessageAttachment.__table__  # type: ignore[attr-defined]
