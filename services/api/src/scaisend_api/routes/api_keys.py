"""/v3/api_keys (permission admin.api_keys) and /v3/scopes (any authenticated caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import PrincipalDep, SessionDep, permission
from scaisend_api.schemas.api_keys import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    ApiKeyReplace,
    ApiKeyUpdate,
    ScopesOut,
)
from scaisend_api.services import api_keys as service

router = APIRouter(tags=["api keys"])

Admin = Annotated[Principal, permission("admin.api_keys")]


@router.get("/v3/api_keys", response_model=ApiKeyList)
async def list_api_keys(
    principal: Admin, session: SessionDep, include_revoked: Annotated[bool, Query()] = False
) -> ApiKeyList:
    return ApiKeyList(api_keys=await service.list_keys(session, principal, include_revoked))


@router.post("/v3/api_keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    body: ApiKeyCreate, principal: Admin, session: SessionDep
) -> ApiKeyCreated:
    """The secret (`api_key`) is in this response only. Scopes default to none; asking for a
    scope you lack is 403, an unknown scope 400. Limited to 10 per minute per tenant."""
    return await service.create_key(session, principal, body)


@router.get("/v3/api_keys/{key_id}", response_model=ApiKeyOut)
async def get_api_key(key_id: str, principal: Admin, session: SessionDep) -> ApiKeyOut:
    return await service.get_key(session, principal, key_id)


@router.patch("/v3/api_keys/{key_id}", response_model=ApiKeyOut)
async def update_api_key(
    key_id: str, body: ApiKeyUpdate, principal: Admin, session: SessionDep
) -> ApiKeyOut:
    return await service.update_key(session, principal, key_id, body)


@router.put("/v3/api_keys/{key_id}", response_model=ApiKeyOut)
async def replace_api_key(
    key_id: str, body: ApiKeyReplace, principal: Admin, session: SessionDep
) -> ApiKeyOut:
    """SendGrid's form of the update (name and scopes), kept for SDK compatibility."""
    return await service.update_key(session, principal, key_id, body)


@router.delete("/v3/api_keys/{key_id}", status_code=204, response_class=Response)
async def revoke_api_key(key_id: str, principal: Admin, session: SessionDep) -> Response:
    """Revocation is immediate: the next request with the key is a 401."""
    await service.revoke_key(session, principal, key_id)
    return Response(status_code=204)


@router.post("/v3/api_keys/{key_id}/rotate", response_model=ApiKeyCreated)
async def rotate_api_key(key_id: str, principal: Admin, session: SessionDep) -> ApiKeyCreated:
    """A new secret for the same key (id, name, scopes); the old secret stops working at once."""
    return await service.rotate_key(session, principal, key_id)


@router.get("/v3/scopes", response_model=ScopesOut)
async def list_scopes(principal: PrincipalDep) -> ScopesOut:
    """The caller's own permissions. Open to any authenticated caller: one of the two documented
    exceptions to "one permission per route" (the other is reading messages)."""
    return ScopesOut(scopes=sorted(principal.permissions))
