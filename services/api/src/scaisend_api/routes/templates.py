"""/v3/templates: transactional templates and their versions, SendGrid-compatible (§1.2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import SessionDep, permission
from scaisend_api.schemas.templates import (
    TemplateCreate,
    TemplateDuplicate,
    TemplateList,
    TemplateOut,
    TemplateUpdate,
    VersionCreate,
    VersionList,
    VersionOut,
    VersionUpdate,
)
from scaisend_api.services import templates as service

router = APIRouter(prefix="/v3/templates", tags=["templates"])

Reader = Annotated[Principal, permission("templates.read")]
Writer = Annotated[Principal, permission("templates.write")]
Deleter = Annotated[Principal, permission("templates.delete")]
VERSION = "/{template_id}/versions/{version_id}"


@router.post("", status_code=201, response_model=TemplateOut)
async def create_template(
    body: TemplateCreate, principal: Writer, session: SessionDep
) -> TemplateOut:
    """Dynamic templates get a `d-` id; pass it as `template_id` on /v3/mail/send."""
    return await service.create_template(session, principal.tenant_id, body)


@router.get("", response_model=TemplateList)
async def list_templates(
    request: Request,
    principal: Reader,
    session: SessionDep,
    generations: Annotated[str | None, Query(description="legacy, dynamic or both")] = None,
    page_size: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.MAX_PAGE_SIZE,
    page_token: Annotated[str | None, Query()] = None,
) -> TemplateList:
    return await service.list_templates(
        session,
        principal.tenant_id,
        generations=generations,
        page_size=page_size,
        page_token=page_token,
        url=str(request.url.replace(query="")),
    )


@router.get("/{template_id}", response_model=TemplateOut)
async def get_template(template_id: str, principal: Reader, session: SessionDep) -> TemplateOut:
    return await service.get_template(session, principal.tenant_id, template_id)


@router.post("/{template_id}", status_code=201, response_model=TemplateOut)
async def duplicate_template(
    template_id: str, body: TemplateDuplicate, principal: Writer, session: SessionDep
) -> TemplateOut:
    """A copy under a new id, with every version."""
    return await service.duplicate_template(session, principal.tenant_id, template_id, body)


@router.patch("/{template_id}", response_model=TemplateOut)
async def rename_template(
    template_id: str, body: TemplateUpdate, principal: Writer, session: SessionDep
) -> TemplateOut:
    return await service.rename_template(session, principal.tenant_id, template_id, body)


@router.delete("/{template_id}", status_code=204, response_class=Response)
async def delete_template(template_id: str, principal: Deleter, session: SessionDep) -> Response:
    """New sends naming the template fail; messages already accepted still go out."""
    await service.delete_template(session, principal.tenant_id, template_id)
    return Response(status_code=204)


@router.post("/{template_id}/versions", status_code=201, response_model=VersionOut)
async def create_version(
    template_id: str, body: VersionCreate, principal: Writer, session: SessionDep
) -> VersionOut:
    """Handlebars is compiled here: a syntax error is a 400 naming the field and line."""
    return await service.create_version(session, principal.tenant_id, template_id, body)


@router.get("/{template_id}/versions", response_model=VersionList)
async def list_versions(template_id: str, principal: Reader, session: SessionDep) -> VersionList:
    return await service.list_versions(session, principal.tenant_id, template_id)


@router.get(VERSION, response_model=VersionOut)
async def get_version(
    template_id: str, version_id: str, principal: Reader, session: SessionDep
) -> VersionOut:
    return await service.get_version(session, principal.tenant_id, template_id, version_id)


@router.patch(VERSION, response_model=VersionOut)
async def update_version(
    template_id: str, version_id: str, body: VersionUpdate, principal: Writer, session: SessionDep
) -> VersionOut:
    return await service.update_version(session, principal.tenant_id, template_id, version_id, body)


@router.delete(VERSION, status_code=204, response_class=Response)
async def delete_version(
    template_id: str, version_id: str, principal: Deleter, session: SessionDep
) -> Response:
    """The active version cannot be deleted (400): activate another one first."""
    await service.delete_version(session, principal.tenant_id, template_id, version_id)
    return Response(status_code=204)


@router.post(VERSION + "/activate", response_model=VersionOut)
async def activate_version(
    template_id: str, version_id: str, principal: Writer, session: SessionDep
) -> VersionOut:
    """Make this the version sends render; the previously active one becomes inactive."""
    return await service.activate_version(session, principal.tenant_id, template_id, version_id)
