"""Domain errors -> HTTP, in one place, in the two shapes of the docs: SendGrid's `errors[]` on
sending endpoints, FastAPI's `detail` everywhere else. Error bodies are always JSON, because the
official SendGrid clients json-decode every error body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scaisend_core.errors import (
    AuthenticationFailed,
    Conflict,
    CryptoError,
    FieldError,
    InvalidState,
    NotFound,
    NotImplementedYet,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ScaiSendError,
    StorageError,
    ValidationFailed,
)

log = logging.getLogger(__name__)

# Sending endpoints answer like SendGrid's mail API (docs: concepts/errors, "Which shape where").
SENDGRID_STYLE_PREFIXES = ("/v3/mail/", "/v3/user/scheduled_sends")

STATUS_BY_ERROR: tuple[tuple[type[ScaiSendError], int], ...] = (
    (NotFound, 404),
    (ValidationFailed, 400),
    (Conflict, 409),
    (InvalidState, 400),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (RateLimited, 429),
    (PayloadTooLarge, 413),
    (NotImplementedYet, 501),
    (StorageError, 503),
    (CryptoError, 500),
)


def sendgrid_style(request: Request) -> bool:
    return request.url.path.startswith(SENDGRID_STYLE_PREFIXES)


def status_for(exc: ScaiSendError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def field_errors(exc: ScaiSendError) -> list[FieldError]:
    if isinstance(exc, ValidationFailed):
        return exc.errors
    if isinstance(exc, PermissionDenied):
        return [FieldError(exc.message, exc.field)]
    return [FieldError(exc.message)]


def error_response(
    request: Request, status: int, errors: list[FieldError], headers: dict[str, str] | None = None
) -> JSONResponse:
    if sendgrid_style(request):
        body: dict[str, Any] = {
            "errors": [{"message": e.message, "field": e.field, "help": e.help} for e in errors]
        }
    elif len(errors) == 1 and errors[0].field is None:
        body = {"detail": errors[0].message}
    else:
        body = {"detail": [{"loc": _loc(e.field), "msg": e.message, "type": "value_error"}
                           for e in errors]}  # fmt: skip
    return JSONResponse(status_code=status, content=body, headers=headers)


def _loc(field: str | None) -> list[str | int]:
    if not field:
        return ["body"]
    return ["body", *[int(p) if p.isdigit() else p for p in field.split(".")]]


def _headers_for(exc: ScaiSendError) -> dict[str, str] | None:
    if isinstance(exc, RateLimited):
        return {
            "Retry-After": str(exc.retry_after),
            "X-RateLimit-Limit": str(exc.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(exc.reset_at),
        }
    if isinstance(exc, AuthenticationFailed):
        return {"WWW-Authenticate": "Bearer"}
    return None


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScaiSendError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s", exc.message, exc_info=exc)
    return error_response(request, status, field_errors(exc), _headers_for(exc))


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if not sendgrid_style(request):
        return JSONResponse(status_code=422, content={"detail": _jsonable(exc.errors())})
    errors = [
        FieldError(str(err.get("msg", "invalid value")), _dotted(err.get("loc", ())))
        for err in exc.errors()
    ]
    return error_response(request, 400, errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if not sendgrid_style(request) and not isinstance(exc.detail, str):
        return JSONResponse(exc.status_code, {"detail": exc.detail}, headers=exc.headers)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, [FieldError(message)], headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, [FieldError("internal server error")])


def _dotted(loc: Any) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or None


def _jsonable(errors: Any) -> Any:
    """pydantic puts exception objects into `ctx`; keep the JSON body serialisable."""
    cleaned = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in {"loc", "msg", "type"}}
        cleaned.append(item)
    return cleaned


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ScaiSendError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
