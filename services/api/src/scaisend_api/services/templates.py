"""Templates and versions: create, list, read, rename, duplicate, delete; versions with exactly one
active per template. Handlebars is compiled when a dynamic version is saved, so a syntax error is
a 400 naming the field and line, never a failed send later.

The first version of a template becomes active unless the request says `active: 0` (SendGrid:
"the first version created is activated automatically"); later versions default to inactive."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.schemas.templates import (
    PageMetadata,
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
from scaisend_core.errors import Conflict, InvalidState, NotFound, ValidationFailed
from scaisend_core.ids import new_id, new_template_id
from scaisend_core.models import Template, TemplateVersion, utcnow
from scaisend_core.repositories import templates as repo
from scaisend_core.templating import validate

MAX_TEMPLATES = 300  # SendGrid's per-account limit
MAX_PAGE_SIZE = 200
GENERATIONS = ("dynamic", "legacy")
TEMPLATED_FIELDS = ("subject", "html_content", "plain_content")


def present_version(version: TemplateVersion, *, content: bool = True) -> VersionOut:
    return VersionOut(
        id=version.id,
        template_id=version.template_id,
        active=version.active,
        name=version.name,
        subject=version.subject,
        preheader=version.preheader,
        html_content=version.html_content if content else None,
        plain_content=version.plain_content if content else None,
        generate_plain_content=version.generate_plain_content,
        editor=version.editor,
        test_data=version.test_data if content else None,
        created_at=version.created_at,
        updated_at=version.updated_at,
    )


def present(
    template: Template, versions: list[TemplateVersion], *, content: bool = True
) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        generation=template.generation,
        created_at=template.created_at,
        updated_at=template.updated_at,
        versions=[present_version(v, content=content) for v in versions],
    )


async def _template(
    session: AsyncSession, tenant_id: str, template_id: str, *, for_update: bool = False
) -> Template:
    template = await repo.get_template(session, tenant_id, template_id, for_update=for_update)
    if template is None:
        raise NotFound("Template not found")
    return template


async def _version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> TemplateVersion:
    version = await repo.get_version(session, tenant_id, template_id, version_id)
    if version is None:
        raise NotFound("Template version not found")
    return version


async def _check_name(
    session: AsyncSession, tenant_id: str, name: str, exclude_id: str | None = None
) -> None:
    if await repo.name_taken(session, tenant_id, name, exclude_id):
        raise Conflict(f"A template named {name!r} already exists")


async def _check_room(session: AsyncSession, tenant_id: str) -> None:
    if await repo.count_templates(session, tenant_id) >= MAX_TEMPLATES:
        raise ValidationFailed.single(f"A tenant can have at most {MAX_TEMPLATES} templates")


async def create_template(
    session: AsyncSession, tenant_id: str, body: TemplateCreate
) -> TemplateOut:
    await _check_name(session, tenant_id, body.name)
    await _check_room(session, tenant_id)
    template_id = new_template_id() if body.generation == "dynamic" else _legacy_id()
    template = Template(
        id=template_id, tenant_id=tenant_id, name=body.name, generation=body.generation
    )
    session.add(template)
    await session.commit()
    return present(template, [])


def _legacy_id() -> str:
    """SendGrid's legacy templates have UUIDs; the d- prefix marks dynamic ones only."""
    raw = new_template_id().removeprefix("d-")
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def parse_generations(value: str | None) -> list[str]:
    if value is None or not value.strip():
        return list(GENERATIONS)
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [g for g in wanted if g not in GENERATIONS]
    if unknown or not wanted:
        raise ValidationFailed.single("generations must be legacy, dynamic or legacy,dynamic")
    return wanted


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4))))
    except (ValueError, binascii.Error):
        raise ValidationFailed.single("page_token is not valid") from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).rstrip(b"=").decode()


async def list_templates(
    session: AsyncSession,
    tenant_id: str,
    *,
    generations: str | None,
    page_size: int,
    page_token: str | None,
    url: str,
) -> TemplateList:
    wanted = parse_generations(generations)
    offset = _offset(page_token)
    rows, total = await repo.list_templates(session, tenant_id, wanted, offset, page_size)
    versions = await repo.versions_of(session, tenant_id, [t.id for t in rows])

    def link(at: int) -> str:
        query = {"generations": ",".join(wanted), "page_size": page_size}
        return f"{url}?{urlencode({**query, 'page_token': _token(at)} if at else query)}"

    metadata = PageMetadata(
        self_=link(offset),
        prev=link(max(0, offset - page_size)) if offset > 0 else None,
        next=link(offset + page_size) if offset + page_size < total else None,
        count=total,
    )
    items = [present(t, versions[t.id], content=False) for t in rows]
    return TemplateList(result=items, metadata=metadata)


async def get_template(session: AsyncSession, tenant_id: str, template_id: str) -> TemplateOut:
    template = await _template(session, tenant_id, template_id)
    versions = await repo.versions_of(session, tenant_id, [template.id])
    return present(template, versions[template.id])


async def rename_template(
    session: AsyncSession, tenant_id: str, template_id: str, body: TemplateUpdate
) -> TemplateOut:
    template = await _template(session, tenant_id, template_id, for_update=True)
    await _check_name(session, tenant_id, body.name, exclude_id=template.id)
    template.name = body.name
    template.updated_at = utcnow()
    session.add(template)
    await session.commit()
    return await get_template(session, tenant_id, template_id)


async def delete_template(session: AsyncSession, tenant_id: str, template_id: str) -> None:
    """Soft delete: new sends naming it fail; messages already accepted still render it."""
    template = await _template(session, tenant_id, template_id, for_update=True)
    now = utcnow()
    template.deleted_at = now
    session.add(template)
    for version in (await repo.versions_of(session, tenant_id, [template.id]))[template.id]:
        version.deleted_at = now
        session.add(version)
    await session.commit()


async def duplicate_template(
    session: AsyncSession, tenant_id: str, template_id: str, body: TemplateDuplicate
) -> TemplateOut:
    """A new template (new id) with a copy of every version, the same one active."""
    source = await _template(session, tenant_id, template_id)
    name = body.name or f"{source.name} Copy"[:100]
    await _check_name(session, tenant_id, name)
    await _check_room(session, tenant_id)
    copy_id = new_template_id() if source.generation == "dynamic" else _legacy_id()
    copy = Template(id=copy_id, tenant_id=tenant_id, name=name, generation=source.generation)
    session.add(copy)
    await session.flush()  # the copy's versions reference it
    for version in (await repo.versions_of(session, tenant_id, [source.id]))[source.id]:
        fields = version.model_dump(exclude={"id", "template_id", "created_at", "updated_at"})
        session.add(TemplateVersion(**fields, id=new_id("v"), template_id=copy.id))
    await session.commit()
    return await get_template(session, tenant_id, copy.id)


def _validate_handlebars(template: Template, fields: dict[str, str | None]) -> None:
    """Dynamic templates are Handlebars; legacy ones use `<%body%>` and plain substitutions."""
    if template.generation != "dynamic":
        return
    for name in TEMPLATED_FIELDS:
        value = fields.get(name)
        if value:
            validate(value, name)


async def create_version(
    session: AsyncSession, tenant_id: str, template_id: str, body: VersionCreate
) -> VersionOut:
    template = await _template(session, tenant_id, template_id, for_update=True)
    fields = body.model_dump(exclude={"active"}, exclude_none=True)
    _validate_handlebars(template, fields)
    first = not await repo.has_active_version(session, tenant_id, template.id)
    version = TemplateVersion(
        id=new_id("v"), tenant_id=tenant_id, template_id=template.id, **fields
    )
    session.add(version)
    await session.flush()
    if body.active == 1 or (body.active is None and first):
        await repo.activate(session, tenant_id, template.id, version.id)
    await _touch(session, template)
    await session.commit()
    return await get_version(session, tenant_id, template_id, version.id)


async def list_versions(session: AsyncSession, tenant_id: str, template_id: str) -> VersionList:
    template = await _template(session, tenant_id, template_id)
    versions = (await repo.versions_of(session, tenant_id, [template.id]))[template.id]
    return VersionList(versions=[present_version(v) for v in versions])


async def get_version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> VersionOut:
    await _template(session, tenant_id, template_id)
    version = await _version(session, tenant_id, template_id, version_id)
    await session.refresh(version)  # `activate` changed rows behind the identity map
    return present_version(version)


async def update_version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str, body: VersionUpdate
) -> VersionOut:
    template = await _template(session, tenant_id, template_id, for_update=True)
    version = await _version(session, tenant_id, template_id, version_id)
    fields = body.model_dump(exclude={"active"}, exclude_unset=True)
    _validate_handlebars(template, fields)
    if body.active == 0 and version.active == 1:
        raise InvalidState(
            "A template keeps exactly one active version: activate another version instead"
        )
    for name, value in fields.items():
        if name in ("name", "editor", "generate_plain_content") and value is None:
            continue  # these columns are not nullable; null means "leave as is"
        setattr(version, name, value)
    version.updated_at = utcnow()
    session.add(version)
    await session.flush()
    if body.active == 1:
        await repo.activate(session, tenant_id, template.id, version.id)
    await _touch(session, template)
    await session.commit()
    return await get_version(session, tenant_id, template_id, version_id)


async def delete_version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> None:
    await _template(session, tenant_id, template_id, for_update=True)
    version = await _version(session, tenant_id, template_id, version_id)
    if version.active == 1:
        raise InvalidState("Cannot delete only active version")
    version.deleted_at = utcnow()
    session.add(version)
    await session.commit()


async def activate_version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> VersionOut:
    template = await _template(session, tenant_id, template_id, for_update=True)
    await _version(session, tenant_id, template_id, version_id)
    await repo.activate(session, tenant_id, template.id, version_id)
    await session.commit()
    return await get_version(session, tenant_id, template_id, version_id)


async def _touch(session: AsyncSession, template: Template) -> None:
    template.updated_at = utcnow()
    session.add(template)
    await session.flush()
