"""/v3/messages: list and read (any authenticated caller of the tenant, as reference/messages
documents: the one exception to "one permission per route" besides /v3/scopes), and cancel
(mail.cancel), retry and fail (mail.send)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from scaisend_api.auth import Principal
from scaisend_api.deps import PrincipalDep, SessionDep, UowDep, permission
from scaisend_api.schemas.messages import FailRequest, MessageAction, MessageDetail, MessageList
from scaisend_api.services import messages as service

router = APIRouter(prefix="/v3/messages", tags=["messages"])

Canceller = Annotated[Principal, permission("mail.cancel")]
Sender = Annotated[Principal, permission("mail.send")]


@router.get("", response_model=MessageList)
async def list_messages(
    principal: PrincipalDep,
    session: SessionDep,
    status: Annotated[str | None, Query(description="queued, processing, … sandbox")] = None,
    to_email: Annotated[str | None, Query(description="Exact match on a recipient")] = None,
    from_email: Annotated[str | None, Query(description="Exact match on the sender")] = None,
    subject: Annotated[str | None, Query(description="Substring")] = None,
    batch_id: str | None = None,
    template_id: str | None = None,
    category: str | None = None,
    start_date: Annotated[str | None, Query(description="ISO-8601 or YYYY-MM-DD")] = None,
    end_date: Annotated[str | None, Query(description="ISO-8601 or YYYY-MM-DD (inclusive)")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> MessageList:
    """Newest first. Open to any authenticated caller of the tenant (documented exception)."""
    f = service.build_filter(
        status, start_date, end_date, to_email=to_email, from_email=from_email, subject=subject,
        batch_id=batch_id, template_id=template_id, category=category,
    )  # fmt: skip
    return await service.list_messages(session, principal.tenant_id, f, page, page_size)


@router.get("/{message_id}", response_model=MessageDetail)
async def get_message(
    message_id: str, principal: PrincipalDep, session: SessionDep
) -> MessageDetail:
    """Headers, body references, settings, recipients with their states, error_message and the
    event timeline (oldest first). Open to any authenticated caller of the tenant."""
    return await service.get_message(session, principal.tenant_id, message_id)


@router.post("/{message_id}/cancel", response_model=MessageAction)
async def cancel_message(message_id: str, principal: Canceller, uow: UowDep) -> MessageAction:
    """queued or processing -> cancelled; any other status is a 400 that names it."""
    return await service.cancel(uow, principal, message_id)


@router.post("/{message_id}/retry", response_model=MessageAction)
async def retry_message(message_id: str, principal: Sender, uow: UowDep) -> MessageAction:
    """processing, sending, failed or bounced -> queued, processed again (attempt + 1)."""
    return await service.retry(uow, principal, message_id)


@router.post("/{message_id}/fail", response_model=MessageAction)
async def fail_message(
    message_id: str,
    principal: Sender,
    uow: UowDep,
    body: Annotated[FailRequest | None, Body()] = None,
) -> MessageAction:
    """queued, processing, rendered or sending -> failed, with `reason` as the error message:
    for clearing messages stuck before delivery completed."""
    return await service.fail(uow, principal, message_id, body.reason if body else None)
