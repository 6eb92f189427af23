"""Templates and their versions: the API's CRUD and the active-version lookup sends and the worker
share. Deleting is soft (`deleted_at`), so a message accepted before the delete still renders."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import Template, TemplateVersion, utcnow


async def get_template(
    session: AsyncSession, tenant_id: str, template_id: str, *, for_update: bool = False
) -> Template | None:
    """A live (not deleted) template of the tenant; `for_update` serialises version changes."""
    statement = select(Template).where(
        col(Template.id) == template_id,
        col(Template.tenant_id) == tenant_id,
        col(Template.deleted_at).is_(None),
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def list_templates(
    session: AsyncSession, tenant_id: str, generations: Iterable[str], offset: int, limit: int
) -> tuple[list[Template], int]:
    """One page, newest first, and the total count."""
    where = (
        col(Template.tenant_id) == tenant_id,
        col(Template.deleted_at).is_(None),
        col(Template.generation).in_(list(generations)),
    )
    total = (await session.exec(select(func.count()).select_from(Template).where(*where))).one()
    statement = (
        select(Template)
        .where(*where)
        .order_by(col(Template.created_at).desc(), col(Template.id))
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(statement)).all()), int(total)


async def count_templates(session: AsyncSession, tenant_id: str) -> int:
    statement = (
        select(func.count())
        .select_from(Template)
        .where(col(Template.tenant_id) == tenant_id, col(Template.deleted_at).is_(None))
    )
    return int((await session.exec(statement)).one())


async def name_taken(
    session: AsyncSession, tenant_id: str, name: str, exclude_id: str | None = None
) -> bool:
    statement = select(Template.id).where(
        col(Template.tenant_id) == tenant_id,
        col(Template.name) == name,
        col(Template.deleted_at).is_(None),
    )
    if exclude_id is not None:
        statement = statement.where(col(Template.id) != exclude_id)
    return (await session.exec(statement.limit(1))).first() is not None


async def versions_of(
    session: AsyncSession, tenant_id: str, template_ids: Iterable[str]
) -> dict[str, list[TemplateVersion]]:
    """Live versions per template, oldest first, in one query."""
    ids = list(template_ids)
    found: dict[str, list[TemplateVersion]] = {i: [] for i in ids}
    if not ids:
        return found
    statement = (
        select(TemplateVersion)
        .where(
            col(TemplateVersion.tenant_id) == tenant_id,
            col(TemplateVersion.template_id).in_(ids),
            col(TemplateVersion.deleted_at).is_(None),
        )
        .order_by(col(TemplateVersion.created_at), col(TemplateVersion.id))
        .execution_options(populate_existing=True)  # `activate` updates rows in bulk
    )
    for version in (await session.exec(statement)).all():
        found[version.template_id].append(version)
    return found


async def get_version(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> TemplateVersion | None:
    statement = select(TemplateVersion).where(
        col(TemplateVersion.id) == version_id,
        col(TemplateVersion.template_id) == template_id,
        col(TemplateVersion.tenant_id) == tenant_id,
        col(TemplateVersion.deleted_at).is_(None),
    )
    return (await session.exec(statement)).first()


async def has_active_version(session: AsyncSession, tenant_id: str, template_id: str) -> bool:
    statement = select(TemplateVersion.id).where(
        col(TemplateVersion.tenant_id) == tenant_id,
        col(TemplateVersion.template_id) == template_id,
        col(TemplateVersion.active) == 1,
        col(TemplateVersion.deleted_at).is_(None),
    )
    return (await session.exec(statement.limit(1))).first() is not None


async def activate(
    session: AsyncSession, tenant_id: str, template_id: str, version_id: str
) -> None:
    """Make one version active and every other version of the template inactive, at once."""
    await session.exec(
        update(TemplateVersion)
        .where(
            col(TemplateVersion.tenant_id) == tenant_id,
            col(TemplateVersion.template_id) == template_id,
        )
        .values(active=case((col(TemplateVersion.id) == version_id, 1), else_=0))
    )
    await session.exec(
        update(Template).where(col(Template.id) == template_id).values(updated_at=utcnow())
    )


async def active_version(
    session: AsyncSession, tenant_id: str, template_id: str, *, include_deleted: bool = False
) -> TemplateVersion | None:
    """The version a send renders. New sends pass include_deleted=False (a deleted template is
    a 400); the worker passes True so messages accepted before a delete still go out."""
    statement = (
        select(TemplateVersion)
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .where(
            col(TemplateVersion.template_id) == template_id,
            col(TemplateVersion.tenant_id) == tenant_id,
            col(TemplateVersion.active) == 1,
        )
    )
    if not include_deleted:
        statement = statement.where(
            col(Template.deleted_at).is_(None), col(TemplateVersion.deleted_at).is_(None)
        )
    return (await session.exec(statement.limit(1))).first()


async def version_by_id(
    session: AsyncSession, tenant_id: str, version_id: str
) -> TemplateVersion | None:
    """A version pinned on a message, deleted or not."""
    statement = select(TemplateVersion).where(
        col(TemplateVersion.id) == version_id, col(TemplateVersion.tenant_id) == tenant_id
    )
    return (await session.exec(statement)).first()


async def template_generation(
    session: AsyncSession, tenant_id: str, template_id: str
) -> str | None:
    statement = select(Template.generation).where(
        col(Template.id) == template_id, col(Template.tenant_id) == tenant_id
    )
    return (await session.exec(statement)).first()
