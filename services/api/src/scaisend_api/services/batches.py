"""Batches and scheduled-send controls. Pausing or cancelling only records the decision on the
batch: the worker applies it when the batch's scheduled messages come due (cancel drops them,
pause holds them), as SendGrid does."""

from __future__ import annotations

from typing import cast

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.schemas.batches import (
    BatchCreated,
    BatchStatus,
    ScheduledSend,
    ScheduledStatus,
)
from scaisend_core.errors import NotFound, ValidationFailed
from scaisend_core.models import MailBatch
from scaisend_core.repositories import batches as repo

MAX_WITH_STATUS = 100  # SendGrid: at most 100 batches paused or cancelled at once
PAST = {repo.PAUSE: "paused", repo.CANCEL: "cancelled"}


async def create_batch(session: AsyncSession, tenant_id: str) -> BatchCreated:
    batch = await repo.create_batch(session, tenant_id)
    await session.commit()
    return BatchCreated(batch_id=batch.id)


async def _batch(session: AsyncSession, tenant_id: str, batch_id: str) -> MailBatch:
    batch = await repo.get_batch(session, tenant_id, batch_id)
    if batch is None:
        raise NotFound("batch id not found")
    return batch


async def batch_status(session: AsyncSession, tenant_id: str, batch_id: str) -> BatchStatus:
    batch = await _batch(session, tenant_id, batch_id)
    counts = await repo.status_counts(session, tenant_id, batch_id)
    return BatchStatus(
        batch_id=batch.id, status=_status(batch), counts=counts, total=sum(counts.values())
    )


def _status(batch: MailBatch) -> ScheduledStatus | None:
    return cast(ScheduledStatus | None, batch.status)


def _scheduled(batch: MailBatch) -> ScheduledSend:
    status = _status(batch)
    assert status is not None
    return ScheduledSend(batch_id=batch.id, status=status)


async def add_control(
    session: AsyncSession, tenant_id: str, batch_id: str, status: ScheduledStatus
) -> ScheduledSend:
    batch = await _batch(session, tenant_id, batch_id)
    if batch.status is not None:
        raise ValidationFailed.single(
            f"The batch is already {PAST[batch.status]}; use PATCH to change its status",
            "batch_id",
        )
    if await repo.count_with_status(session, tenant_id) >= MAX_WITH_STATUS:
        raise ValidationFailed.single(
            f"At most {MAX_WITH_STATUS} batches may be paused or cancelled at once"
        )
    await repo.set_status(session, batch, status)
    await session.commit()
    return _scheduled(batch)


async def list_controls(session: AsyncSession, tenant_id: str) -> list[ScheduledSend]:
    return [_scheduled(b) for b in await repo.with_status(session, tenant_id)]


async def get_control(session: AsyncSession, tenant_id: str, batch_id: str) -> list[ScheduledSend]:
    batch = await _batch(session, tenant_id, batch_id)
    return [_scheduled(batch)] if batch.status is not None else []


async def change_control(
    session: AsyncSession, tenant_id: str, batch_id: str, status: ScheduledStatus | None
) -> None:
    """PATCH sets a new status, DELETE (None) removes it; both need an existing control."""
    batch = await _batch(session, tenant_id, batch_id)
    if batch.status is None:
        raise NotFound("The batch has no scheduled send status; create one with POST")
    await repo.set_status(session, batch, status)
    await session.commit()
