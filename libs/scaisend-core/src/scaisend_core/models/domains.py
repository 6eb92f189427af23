"""Sender domains: DKIM keys (encrypted), DNS records and their last check results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from scaisend_core.models.base import (
    created_at_field,
    datetime_field,
    id_field,
    json_field,
    tenant_fk,
    text_field,
    updated_at_field,
)


class SenderDomain(SQLModel, table=True):
    """`dkim_*` is the key used for signing now; `pending_*` is a rotated key that takes over
    once its DNS record verifies. Private keys are ciphertexts from core's SecretBox."""

    __tablename__ = "sender_domains"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "domain", name="uq_sender_domains_tenant_domain"),
        sa.Index("ix_sender_domains_return_path", "return_path_host"),
    )

    id: str = id_field()
    tenant_id: str = tenant_fk()
    domain: str = Field(max_length=253)
    is_active: bool = True
    verified: bool = False
    verified_at: datetime | None = datetime_field()
    dmarc_policy: str = Field(default="none", max_length=20)
    dmarc_rua_email: str | None = Field(default=None, max_length=320)
    return_path_host: str = Field(max_length=253)
    dkim_selector: str = Field(default="scaisend", max_length=63)
    dkim_algorithm: str = Field(default="rsa-sha256", max_length=20)
    dkim_private_key: str = Field(sa_type=sa.Text)
    dkim_public_key: str = Field(sa_type=sa.Text)
    pending_selector: str | None = Field(default=None, max_length=63)
    pending_private_key: str | None = text_field()
    pending_public_key: str | None = text_field()
    ed25519_selector: str | None = Field(default=None, max_length=63)
    ed25519_private_key: str | None = text_field()
    ed25519_public_key: str | None = text_field()
    dns_checks: dict[str, Any] = json_field()
    last_checked_at: datetime | None = datetime_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
