"""Transactional templates and their versions, and the tenant image library."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    datetime_field,
    id_field,
    long_text_field,
    tenant_fk,
    text_field,
    updated_at_field,
)


class Template(SQLModel, table=True):
    """Deleting soft-deletes (`deleted_at`) so messages already queued can still render."""

    __tablename__ = "templates"
    __table_args__ = (sa.Index("ix_templates_tenant_name", "tenant_id", "name"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    name: str = Field(max_length=255)
    generation: str = Field(default="dynamic", max_length=10)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    deleted_at: datetime | None = datetime_field()


class TemplateVersion(SQLModel, table=True):
    __tablename__ = "template_versions"
    __table_args__ = (sa.Index("ix_template_versions_tenant_template", "tenant_id", "template_id"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    template_id: str = Field(foreign_key="templates.id", max_length=40, ondelete="CASCADE")
    name: str = Field(max_length=255)
    subject: str | None = Field(default=None, max_length=1000)
    preheader: str | None = Field(default=None, max_length=500)
    html_content: str | None = long_text_field()
    plain_content: str | None = long_text_field()
    generate_plain_content: bool = True
    editor: str = Field(default="code", max_length=10)
    test_data: str | None = text_field()
    active: int = 0
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    deleted_at: datetime | None = datetime_field()


class Image(SQLModel, table=True):
    __tablename__ = "images"
    __table_args__ = (sa.Index("ix_images_tenant_folder", "tenant_id", "folder"),)

    id: str = id_field()
    tenant_id: str = tenant_fk()
    filename: str = Field(max_length=255)
    original_filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    width: int | None = None
    height: int | None = None
    alt_text: str | None = Field(default=None, max_length=1000)
    folder: str | None = Field(default=None, max_length=255)
    storage_key: str = Field(max_length=512)
    thumbnail_key: str | None = Field(default=None, max_length=512)
    sha256: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    deleted_at: datetime | None = datetime_field()
