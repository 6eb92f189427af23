"""Batches (/v3/mail/batch, permission mail.schedule) and SendGrid's scheduled-send controls
(/v3/user/scheduled_sends: reads need mail.schedule, pause/cancel writes mail.cancel). Errors use
SendGrid's `errors[]` shape on both paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import SessionDep, permission
from scaisend_api.schemas.batches import (
    BatchCreated,
    BatchStatus,
    ScheduledSend,
    ScheduledSendCreate,
    ScheduledSendUpdate,
)
from scaisend_api.services import batches as service

router = APIRouter(tags=["batches"])

Scheduler = Annotated[Principal, permission("mail.schedule")]
Canceller = Annotated[Principal, permission("mail.cancel")]


@router.post("/v3/mail/batch", status_code=201, response_model=BatchCreated)
async def create_batch(principal: Scheduler, session: SessionDep) -> BatchCreated:
    """A new batch id to put on sends (`batch_id`), for status counts and pause/cancel."""
    return await service.create_batch(session, principal.tenant_id)


@router.get("/v3/mail/batch/{batch_id}", response_model=BatchStatus)
async def get_batch(batch_id: str, principal: Scheduler, session: SessionDep) -> BatchStatus:
    """The batch, its pause/cancel status and how many of its messages are in each state."""
    return await service.batch_status(session, principal.tenant_id, batch_id)


@router.post("/v3/user/scheduled_sends", status_code=201, response_model=ScheduledSend)
async def add_scheduled_send(
    body: ScheduledSendCreate, principal: Canceller, session: SessionDep
) -> ScheduledSend:
    """Pause or cancel a batch's scheduled messages (applied when they come due)."""
    return await service.add_control(session, principal.tenant_id, body.batch_id, body.status)


@router.get("/v3/user/scheduled_sends", response_model=list[ScheduledSend])
async def list_scheduled_sends(principal: Scheduler, session: SessionDep) -> list[ScheduledSend]:
    return await service.list_controls(session, principal.tenant_id)


@router.get("/v3/user/scheduled_sends/{batch_id}", response_model=list[ScheduledSend])
async def get_scheduled_send(
    batch_id: str, principal: Scheduler, session: SessionDep
) -> list[ScheduledSend]:
    return await service.get_control(session, principal.tenant_id, batch_id)


@router.patch("/v3/user/scheduled_sends/{batch_id}", status_code=204, response_class=Response)
async def update_scheduled_send(
    batch_id: str, body: ScheduledSendUpdate, principal: Canceller, session: SessionDep
) -> Response:
    await service.change_control(session, principal.tenant_id, batch_id, body.status)
    return Response(status_code=204)


@router.delete("/v3/user/scheduled_sends/{batch_id}", status_code=204, response_class=Response)
async def delete_scheduled_send(
    batch_id: str, principal: Canceller, session: SessionDep
) -> Response:
    """Remove the pause/cancel: the batch's messages go out when due."""
    await service.change_control(session, principal.tenant_id, batch_id, None)
    return Response(status_code=204)
