"""Authorisation: the 17 permissions, roles and their mappings, and API keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    datetime_field,
    id_field,
    json_field,
    tenant_fk,
)


class Permission(SQLModel, table=True):
    __tablename__ = "permissions"

    id: str = Field(primary_key=True, max_length=40)  # the permission string, e.g. "mail.send"
    category: str = Field(max_length=40, index=True)
    description: str = Field(max_length=255)


class Role(SQLModel, table=True):
    __tablename__ = "roles"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=255)
    is_default: bool = False
    created_at: datetime = created_at_field()


class RolePermission(SQLModel, table=True):
    __tablename__ = "role_permissions"

    role_id: str = Field(
        foreign_key="roles.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    permission_id: str = Field(
        foreign_key="permissions.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"
    __table_args__ = (sa.Index("ix_user_roles_tenant_user", "tenant_id", "user_id"),)

    user_id: str = Field(
        foreign_key="users.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    role_id: str = Field(
        foreign_key="roles.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    tenant_id: str = tenant_fk()
    created_at: datetime = created_at_field()


class GroupRoleMapping(SQLModel, table=True):
    __tablename__ = "group_role_mappings"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "group_id", "role_id", name="uq_group_role_mapping"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    group_id: str = Field(foreign_key="groups.id", max_length=40, ondelete="CASCADE")
    role_id: str = Field(foreign_key="roles.id", max_length=40, ondelete="CASCADE")
    created_at: datetime = created_at_field()


class ApiKeyEnvironment:
    LIVE = "live"
    TEST = "test"


class ApiKey(SQLModel, table=True):
    """Only the SHA-256 of the secret is stored; `prefix` identifies a key without granting use."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("ix_api_keys_tenant_created", "tenant_id", "created_at"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    name: str = Field(max_length=255)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=20)
    environment: str = Field(default=ApiKeyEnvironment.LIVE, max_length=10)
    scopes: list[str] = json_field(list)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = datetime_field()
    expires_at: datetime | None = datetime_field()
    revoked_at: datetime | None = datetime_field()
