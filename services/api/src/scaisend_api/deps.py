"""FastAPI dependencies as `Annotated` aliases: state, sessions, the unit of work, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.auth import Principal
from scaisend_api.ratelimit import STATE_KEY as RATE_LIMIT_STATE_KEY
from scaisend_api.state import AppState
from scaisend_core.errors import PermissionDenied
from scaisend_core.permissions import ALL_PERMISSIONS
from scaisend_core.queue import Job, JobBuffer


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.scaisend
    return state


async def get_state(request: Request) -> AppState:
    """async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    hop on every request for a dictionary lookup."""
    return state_of(request)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One session per request, shared by SessionDep and UowDep (FastAPI caches a dependency
    per request). The caller lookup does not use it (auth.py reads through `state.reads`), so
    a route that never touches the database never checks out a pooled connection."""
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class UnitOfWork:
    """A session plus the jobs it produces. `commit()` commits, then enqueues; leaving without
    committing rolls back and drops the jobs, so no job ever points at rows that don't exist."""

    def __init__(self, session: AsyncSession, state: AppState) -> None:
        self.session = session
        self.jobs = JobBuffer()
        self._state = state

    def enqueue(self, job: Job, **kwargs: Any) -> None:
        self.jobs.add(job, **kwargs)

    async def commit(self) -> None:
        await self.session.commit()
        await self.jobs.flush(self._state.redis)


async def get_uow(state: StateDep, session: SessionDep) -> AsyncIterator[UnitOfWork]:
    uow = UnitOfWork(session, state)
    try:
        yield uow
    finally:
        uow.jobs.clear()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def get_principal(request: Request) -> Principal:
    """The caller of a route open to any authenticated key (RequirePermission for the rest)."""
    return await authenticate(request)


async def authenticate(request: Request) -> Principal:
    """Who is calling, once per request (the rate limit counts it once too, even when a route
    asks for the caller twice). Runs on every authenticated request, so it takes only the
    Request: each declared parameter (a Header, a sub-dependency) costs FastAPI per-request
    work of its own. The headers are undocumented in the schema either way."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    state = state_of(request)
    if request.headers.get("on-behalf-of"):
        raise PermissionDenied(
            "The on-behalf-of header (subuser impersonation) is not supported by ScaiSend; "
            "use an API key of the tenant you want to act for"
        )
    principal = await state.authenticator.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    await _count_request(request, state, principal)
    return principal


async def _count_request(request: Request, state: AppState, principal: Principal) -> None:
    """Every authenticated request counts against its route's rate limit (ratelimit.py); the
    decision rides on the request so the middleware can put X-RateLimit-* on the response."""
    route = request.scope.get("route")
    # not getattr(route, "path", request.url.path): that builds the URL on every request
    template = route.path if route is not None else request.url.path
    decision = await state.rate_limiter.check(request.method, template, principal)
    if decision is not None:
        setattr(request.state, RATE_LIMIT_STATE_KEY, decision)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


class RequirePermission:
    """`Annotated[Principal, RequirePermission("mail.send")]`: the one permission a route needs."""

    def __init__(self, permission: str) -> None:
        if permission not in ALL_PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        """Authenticates itself rather than depending on get_principal: one dependency level
        less for FastAPI to solve on every request."""
        principal = await authenticate(request)
        if not principal.has(self.permission):
            raise PermissionDenied(f"Missing required scope: {self.permission}")
        return principal


def permission(name: str) -> Any:
    """Shorthand: `principal: Annotated[Principal, permission("mail.send")]`."""
    return Depends(RequirePermission(name))
