"""Tenants: creation with their settings row and default roles, lookup by local or ScaiKey id."""

from __future__ import annotations

import re

from sqlmodel import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.ids import new_id
from scaisend_core.models import Role, RolePermission, Tenant, TenantSettings
from scaisend_core.permissions import DEFAULT_ROLES


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "tenant"


async def create_tenant(
    session: AsyncSession,
    name: str,
    *,
    partner_id: str | None = None,
    scaikey_id: str | None = None,
) -> Tenant:
    """A tenant is usable only with its settings row and the three default roles."""
    tenant = Tenant(
        id=new_id("tnt"),
        name=name,
        slug=slugify(name),
        partner_id=partner_id,
        scaikey_id=scaikey_id,
    )
    session.add(tenant)
    await session.flush()
    session.add(TenantSettings(tenant_id=tenant.id))
    for role_name, permissions in DEFAULT_ROLES.items():
        role = Role(id=new_id("rol"), tenant_id=tenant.id, name=role_name, is_default=True)
        session.add(role)
        await session.flush()
        session.add_all(RolePermission(role_id=role.id, permission_id=p) for p in permissions)
    await session.flush()
    return tenant


async def get_tenant(session: AsyncSession, tenant_ref: str) -> Tenant | None:
    """Accept the local id or the ScaiKey id, as the admin API's path parameters do."""
    statement = select(Tenant).where(or_(Tenant.id == tenant_ref, Tenant.scaikey_id == tenant_ref))
    return (await session.exec(statement)).first()
