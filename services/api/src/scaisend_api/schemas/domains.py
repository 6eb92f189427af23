"""Request and response bodies of /api/admin/domains; responses are wrapped in `{"data": …}`.
No schema here has a field for a private key: they cannot leak through a response."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(max_length=253, description="The From domain, e.g. mail.example.com.")
    dmarc_policy: str = Field("none", description="none, quarantine or reject.")
    dmarc_rua_email: str | None = Field(None, description="Where DMARC aggregate reports go.")
    return_path_subdomain: str | None = Field(
        None,
        max_length=63,
        description="Label of the bounce (return-path) host under the domain; default `bounces`.",
    )
    ed25519: bool = Field(False, description="Also create an Ed25519 key for dual signing.")


class DomainUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = Field(None, description="false makes live sends fail with 403.")


class DnsRecordOut(BaseModel):
    name: str = Field(description="dkim, dkim_pending, dkim_ed25519, spf, dmarc, return_path.")
    host: str
    type: str
    value: str
    priority: int | None = None
    required: bool = Field(description="Must pass for the domain to be verified.")
    valid: bool | None = Field(None, description="Result of the last check; null if never run.")
    reason: str | None = Field(None, description="Why the last check failed.")
    checked_at: datetime | None = None


class DomainOut(BaseModel):
    id: str
    domain: str
    is_active: bool
    verified: bool
    verified_at: datetime | None
    dmarc_policy: str
    dmarc_rua_email: str | None
    return_path_host: str
    dkim_selector: str
    dkim_algorithm: str
    pending_selector: str | None
    ed25519_selector: str | None
    dns_records: list[DnsRecordOut]
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class VerificationError(BaseModel):
    record: str
    host: str
    message: str


class VerificationOut(BaseModel):
    id: str
    domain: str
    verified: bool
    dkim_selector: str = Field(description="The selector that signs now (changes on promotion).")
    pending_selector: str | None
    dns_records: list[DnsRecordOut]
    errors: list[VerificationError] = Field(description="Required records that failed, and why.")
    checked_at: datetime


class DomainResponse(BaseModel):
    data: DomainOut


class DomainListResponse(BaseModel):
    data: list[DomainOut]


class VerificationResponse(BaseModel):
    data: VerificationOut
