"""POST /v3/mail/send (permission mail.send; mail.schedule too for a future send_at or a batch).

202 for live and sandbox alike, `{"message_id"}` or `{"message_ids"}` plus `X-Message-Id`;
errors in SendGrid's `errors[]` shape, every validation failure in one response."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from scaisend_api.auth import Principal
from scaisend_api.deps import permission, state_of
from scaisend_api.lean_route import LeanRoute
from scaisend_api.schemas.mail_send import MailSendAccepted, MailSendRequest, inline_schema
from scaisend_api.services.mail.body import MAX_MAIL_BODY, read_body
from scaisend_api.services.mail.send import new_send, send_mail

# The hot path: the route's endpoint is called without FastAPI's dependency solving and
# response handling (lean_route.py); it reads the raw body itself and returns a Response.
router = APIRouter(tags=["mail send"], route_class=LeanRoute)

Sender = Annotated[Principal, permission("mail.send")]
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(MailSendRequest)}},
    }
}
# Documented here, read from the request in the handler: as a Header() parameter FastAPI would
# spend per-request work on it (this is the hot path). The same entry FastAPI would generate.
IDEMPOTENCY_KEY = {
    "name": "idempotency-key",
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Idempotency-Key"},
}


@router.post(
    "/v3/mail/send",
    status_code=202,
    response_class=JSONResponse,
    responses={
        202: {
            "model": MailSendAccepted,
            "headers": {"X-Message-Id": {"schema": {"type": "string"}}},
        }
    },
    openapi_extra={**REQUEST_BODY, "parameters": [IDEMPOTENCY_KEY]},
)
async def send(request: Request, principal: Sender) -> Response:
    """Queue one message per personalization. Sandbox (a test key or
    `mail_settings.sandbox_mode.enable`) validates and records the same way, then stops."""
    state = state_of(request)
    limit = min(MAX_MAIL_BODY, state.settings.api_max_body_bytes)
    raw = await read_body(request, limit)
    idempotency_key = request.headers.get("idempotency-key")
    stored = await send_mail(state, new_send(principal, raw, idempotency_key))
    return Response(orjson.dumps(stored.body), stored.status, stored.headers, media_type=JSON)


JSON = "application/json"
