"""Mail batches: ids from POST /v3/mail/batch, their message counts, and SendGrid's scheduled-send
control (`status` pause/cancel) that the worker honours when a batch's messages come due."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.ids import new_id
from scaisend_core.models import EmailMessage, MailBatch, utcnow

PAUSE = "pause"
CANCEL = "cancel"


async def create_batch(session: AsyncSession, tenant_id: str) -> MailBatch:
    batch = MailBatch(id=new_id("batch"), tenant_id=tenant_id)
    session.add(batch)
    await session.flush()
    return batch


async def get_batch(session: AsyncSession, tenant_id: str, batch_id: str) -> MailBatch | None:
    statement = select(MailBatch).where(
        col(MailBatch.tenant_id) == tenant_id, col(MailBatch.id) == batch_id
    )
    return (await session.exec(statement)).first()


async def status_counts(session: AsyncSession, tenant_id: str, batch_id: str) -> dict[str, int]:
    """message status -> how many of the batch's messages are in it."""
    statement = (
        select(EmailMessage.status, func.count())
        .where(col(EmailMessage.tenant_id) == tenant_id, col(EmailMessage.batch_id) == batch_id)
        .group_by(col(EmailMessage.status))
    )
    return {status: int(n) for status, n in (await session.exec(statement)).all()}


async def with_status(session: AsyncSession, tenant_id: str) -> list[MailBatch]:
    """The tenant's paused or cancelled batches (SendGrid lists only those)."""
    statement = (
        select(MailBatch)
        .where(col(MailBatch.tenant_id) == tenant_id, col(MailBatch.status).is_not(None))
        .order_by(col(MailBatch.created_at), col(MailBatch.id))
    )
    return list((await session.exec(statement)).all())


async def count_with_status(session: AsyncSession, tenant_id: str) -> int:
    statement = (
        select(func.count())
        .select_from(MailBatch)
        .where(col(MailBatch.tenant_id) == tenant_id, col(MailBatch.status).is_not(None))
    )
    return int((await session.exec(statement)).one())


async def set_status(session: AsyncSession, batch: MailBatch, status: str | None) -> None:
    batch.status = status
    batch.updated_at = utcnow()
    session.add(batch)
    await session.flush()
