"""Request and response bodies of /v3/api_keys and /v3/scopes (docs: reference/api-keys).

Responses carry SendGrid's `api_key_id` next to our `id` so SendGrid SDK code reading either works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from scaisend_core.models import ApiKey


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    environment: Literal["live", "test"] = Field(
        "live", description="live keys deliver; test keys are always sandboxed."
    )
    scopes: list[str] = Field(
        default_factory=list, description="Permission strings; empty means no access."
    )
    expires_at: datetime | None = Field(None, description="ISO-8601; the key stops working then.")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class ApiKeyUpdate(BaseModel):
    """PATCH: rename and/or replace the scopes."""

    name: str | None = Field(None, min_length=1, max_length=255)
    scopes: list[str] | None = None


class ApiKeyReplace(BaseModel):
    """PUT (SendGrid's SDK): name and the full scope list."""

    name: str = Field(min_length=1, max_length=255)
    scopes: list[str] = Field(min_length=1)


class ApiKeyOut(BaseModel):
    id: str
    api_key_id: str
    name: str
    prefix: str = Field(description="Enough to recognise the key, not to use it.")
    environment: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls(
            id=row.id,
            api_key_id=row.id,
            name=row.name,
            prefix=row.prefix,
            environment=row.environment,
            scopes=list(row.scopes),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreated(BaseModel):
    """The only response that contains the secret (`api_key`): creation and rotation."""

    id: str
    api_key_id: str
    name: str
    api_key: str
    prefix: str
    environment: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey, secret: str) -> ApiKeyCreated:
        return cls(
            id=row.id,
            api_key_id=row.id,
            name=row.name,
            api_key=secret,
            prefix=row.prefix,
            environment=row.environment,
            scopes=list(row.scopes),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyOut]


class ScopesOut(BaseModel):
    scopes: list[str] = Field(description="The calling credential's permissions.")
