"""Suppression lists (one table, a `kind` per list) and ASM unsubscribe groups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import created_at_field, id_field, tenant_fk, text_field


class SuppressionKind(StrEnum):
    BOUNCE = "bounce"
    BLOCK = "block"
    SPAM_REPORT = "spam_report"
    INVALID_EMAIL = "invalid_email"
    UNSUBSCRIBE = "unsubscribe"


class Suppression(SQLModel, table=True):
    __tablename__ = "suppressions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "kind", "email", name="uq_suppressions_tenant_kind_email"),
        sa.Index("ix_suppressions_tenant_kind_created", "tenant_id", "kind", "created_at"),
        sa.Index("ix_suppressions_tenant_email", "tenant_id", "email"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    kind: str = Field(max_length=20)
    email: str = Field(max_length=320)
    reason: str | None = text_field()
    status: str | None = Field(default=None, max_length=20)
    bounce_type: str | None = Field(default=None, max_length=10)
    ip: str | None = Field(default=None, max_length=45)
    source: str = Field(default="api", max_length=20)
    message_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()


class AsmGroup(SQLModel, table=True):
    """SendGrid's unsubscribe groups have integer ids; clients send them as ints."""

    __tablename__ = "asm_groups"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_asm_groups_tenant_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = tenant_fk()
    name: str = Field(max_length=30)
    description: str | None = Field(default=None, max_length=100)
    is_default: bool = False
    created_at: datetime = created_at_field()


class AsmSuppression(SQLModel, table=True):
    __tablename__ = "asm_suppressions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "group_id", "email", name="uq_asm_suppressions"),
        sa.Index("ix_asm_suppressions_tenant_email", "tenant_id", "email"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    group_id: int = Field(foreign_key="asm_groups.id", ondelete="CASCADE")
    email: str = Field(max_length=320)
    created_at: datetime = created_at_field()
