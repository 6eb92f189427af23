"""Identity mirrored from ScaiKey: partners, tenants, users, groups; and per-tenant settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    id_field,
    json_field,
    text_field,
    updated_at_field,
)


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Partner(SQLModel, table=True):
    __tablename__ = "partners"

    id: str = id_field()
    scaikey_id: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(max_length=255)
    slug: str = Field(max_length=255, index=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = id_field()
    scaikey_id: str | None = Field(default=None, max_length=64, unique=True)
    partner_id: str | None = Field(
        default=None, foreign_key="partners.id", max_length=40, index=True
    )
    name: str = Field(max_length=255)
    slug: str = Field(max_length=255, index=True)
    status: str = Field(default=TenantStatus.ACTIVE, max_length=20)
    settings: dict[str, Any] = json_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = id_field()
    scaikey_id: str | None = Field(default=None, max_length=64, unique=True)
    partner_id: str | None = Field(
        default=None, foreign_key="partners.id", max_length=40, index=True
    )
    email: str = Field(max_length=320, index=True)
    name: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Group(SQLModel, table=True):
    __tablename__ = "groups"

    id: str = id_field()
    scaikey_id: str | None = Field(default=None, max_length=64, unique=True)
    tenant_id: str | None = Field(default=None, foreign_key="tenants.id", max_length=40, index=True)
    name: str = Field(max_length=255)
    created_at: datetime = created_at_field()


class UserGroup(SQLModel, table=True):
    __tablename__ = "user_groups"

    user_id: str = Field(
        foreign_key="users.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    group_id: str = Field(
        foreign_key="groups.id", primary_key=True, max_length=40, ondelete="CASCADE", index=True
    )


class TenantSettings(SQLModel, table=True):
    """Tracking and mail defaults; requests deep-merge their own settings over these."""

    __tablename__ = "tenant_settings"

    tenant_id: str = Field(foreign_key="tenants.id", primary_key=True, max_length=40)
    open_tracking_enabled: bool = True
    open_tracking_substitution_tag: str | None = Field(default=None, max_length=255)
    click_tracking_enabled: bool = True
    click_tracking_enable_text: bool = False
    subscription_tracking_enabled: bool = False
    subscription_tracking_html: str | None = text_field()
    subscription_tracking_text: str | None = text_field()
    subscription_tracking_substitution_tag: str | None = Field(default=None, max_length=255)
    subscription_tracking_landing_html: str | None = text_field()
    ganalytics_enabled: bool = False
    ganalytics_utm_source: str | None = Field(default=None, max_length=255)
    ganalytics_utm_medium: str | None = Field(default=None, max_length=255)
    ganalytics_utm_term: str | None = Field(default=None, max_length=255)
    ganalytics_utm_content: str | None = Field(default=None, max_length=255)
    ganalytics_utm_campaign: str | None = Field(default=None, max_length=255)
    image_embed_mode: str = Field(default="proxy", max_length=10)
    updated_at: datetime = updated_at_field()

    __table_args__ = (sa.CheckConstraint("image_embed_mode IN ('proxy', 'cid')", name="ck_embed"),)
