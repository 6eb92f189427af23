"""Request and response bodies of /v3/templates in SendGrid's shapes (sendgrid-v3 §1.2, §5):
`active` is an integer 0/1, lists carry `result` and `_metadata`. Unknown fields are ignored, as
SendGrid's SDKs send a few (`template_id`, `thumbnail_url`) that only the server sets."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_CONTENT_BYTES = 1_048_576  # SendGrid: html_content and plain_content are at most 1 MiB each

Generation = Literal["dynamic", "legacy"]
Editor = Literal["code", "design"]
Active = Literal[0, 1]


def _content_size(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"must be at most {MAX_CONTENT_BYTES} bytes")
    return value


def _test_data(value: Any) -> str | None:
    """SendGrid stores `test_data` as JSON text; accept an object too and keep its JSON."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError("must be valid JSON") from exc
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise ValueError("must be a JSON object or JSON text")


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=100, description="Unique within the tenant.")
    generation: Generation = Field("dynamic", description="dynamic (Handlebars) or legacy.")


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=100)


class TemplateDuplicate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(
        None, min_length=1, max_length=100, description="Default: '<name> Copy'."
    )


class _VersionFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str | None = Field(None, max_length=1000, description="Rendered like the body.")
    preheader: str | None = Field(None, max_length=500)
    html_content: str | None = None
    plain_content: str | None = None
    generate_plain_content: bool | None = None
    editor: Editor | None = None
    test_data: str | None = Field(None, description="JSON text used for previews.")
    active: Active | None = Field(None, description="1 activates this version.")

    _content = field_validator("html_content", "plain_content")(_content_size)

    @field_validator("test_data", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> str | None:
        return _test_data(value)


class VersionCreate(_VersionFields):
    name: str = Field(min_length=1, max_length=255)


class VersionUpdate(_VersionFields):
    name: str | None = Field(None, min_length=1, max_length=255)


class VersionOut(BaseModel):
    id: str
    template_id: str
    active: int
    name: str
    subject: str | None
    preheader: str | None
    html_content: str | None = None
    plain_content: str | None = None
    generate_plain_content: bool
    editor: str
    test_data: str | None = None
    thumbnail_url: str | None = None
    created_at: datetime
    updated_at: datetime
    warnings: list[dict[str, str]] = Field(default_factory=list)


class VersionList(BaseModel):
    versions: list[VersionOut]


class TemplateOut(BaseModel):
    id: str
    name: str
    generation: str
    created_at: datetime
    updated_at: datetime
    versions: list[VersionOut]


class PageMetadata(BaseModel):
    self_: str = Field(alias="self", serialization_alias="self")
    prev: str | None = None
    next: str | None = None
    count: int

    model_config = ConfigDict(populate_by_name=True)


class TemplateList(BaseModel):
    result: list[TemplateOut]
    metadata: PageMetadata = Field(serialization_alias="_metadata")
