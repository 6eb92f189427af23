"""Field helpers shared by every table module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from scaisend_core.models.types import LongText, UTCDateTime, utcnow


def id_field(length: int = 40) -> Any:
    return Field(primary_key=True, max_length=length)


def tenant_fk() -> Any:
    return Field(foreign_key="tenants.id", max_length=40, index=False)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def updated_at_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"onupdate": utcnow},
    )


def datetime_field(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def json_field(default_factory: Any = dict, *, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON, nullable=nullable)


def optional_json_field() -> Any:
    return Field(default=None, sa_type=sa.JSON, nullable=True)


def long_text_field(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=LongText, nullable=nullable)


def text_field() -> Any:
    return Field(default=None, sa_type=sa.Text, nullable=True)


__all__ = [
    "created_at_field",
    "datetime",
    "datetime_field",
    "id_field",
    "json_field",
    "long_text_field",
    "optional_json_field",
    "tenant_fk",
    "text_field",
    "updated_at_field",
]
