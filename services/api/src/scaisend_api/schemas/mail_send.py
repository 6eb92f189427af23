"""The /v3/mail/send request and response as OpenAPI schemas (SendGrid v3's shape, sendgrid-v3
§2.1). The route validates the body itself (services/mail/validation.py) so every failure comes
back at once in SendGrid's `errors[]` shape; these models document it for /docs and clients."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EmailAddress(BaseModel):
    email: str = Field(max_length=320)
    name: str | None = None


class Personalization(BaseModel):
    to: list[EmailAddress] = Field(min_length=1, max_length=1000)
    cc: list[EmailAddress] | None = None
    bcc: list[EmailAddress] | None = None
    subject: str | None = Field(None, description="Overrides the message subject.")
    headers: dict[str, str] | None = Field(None, description="Merged over message headers.")
    substitutions: dict[str, str] | None = Field(None, description="Legacy -key- substitutions.")
    dynamic_template_data: dict[str, Any] | None = Field(None, description="Handlebars context.")
    custom_args: dict[str, str] | None = Field(None, description="Merged over message args.")
    send_at: int | None = Field(None, description="Unix seconds; overrides the message send_at.")
    from_: EmailAddress | None = Field(None, alias="from", description="Overrides `from`.")


class Content(BaseModel):
    type: str = Field(description="text/plain first, then text/html, then anything else.")
    value: str = Field(min_length=1)


class Attachment(BaseModel):
    content: str = Field(description="Base64.")
    filename: str = Field(max_length=255)
    type: str | None = Field(None, description="MIME type; default application/octet-stream.")
    disposition: Literal["attachment", "inline"] | None = "attachment"
    content_id: str | None = Field(None, description="Required when disposition is inline.")


class Asm(BaseModel):
    group_id: int
    groups_to_display: list[int] | None = Field(None, max_length=25)


class Toggle(BaseModel):
    model_config = ConfigDict(extra="allow")
    enable: bool


class MailSettings(BaseModel):
    bypass_list_management: Toggle | None = None
    bypass_spam_management: Toggle | None = None
    bypass_bounce_management: Toggle | None = None
    bypass_unsubscribe_management: Toggle | None = None
    footer: Toggle | None = Field(None, description="{enable, text, html}")
    sandbox_mode: Toggle | None = Field(None, description="Validate and record, never deliver.")
    bcc: Toggle | None = Field(None, description="Legacy {enable, email}.")
    spam_check: Toggle | None = Field(None, description="Legacy {enable, threshold, post_to_url}.")


class TrackingSettings(BaseModel):
    click_tracking: Toggle | None = Field(None, description="{enable, enable_text}")
    open_tracking: Toggle | None = Field(None, description="{enable, substitution_tag}")
    subscription_tracking: Toggle | None = Field(
        None, description="{enable, text, html, substitution_tag}"
    )
    ganalytics: Toggle | None = Field(None, description="{enable, utm_source, utm_medium, …}")


class MailSendRequest(BaseModel):
    personalizations: list[Personalization] = Field(min_length=1, max_length=1000)
    from_: EmailAddress = Field(alias="from", description="Must use a verified domain (live).")
    reply_to: EmailAddress | None = None
    reply_to_list: list[EmailAddress] | None = Field(None, max_length=1000)
    subject: str | None = Field(None, description="Required unless every personalization or "
                                "the template has one.")  # fmt: skip
    content: list[Content] | None = Field(None, description="Required unless template_id.")
    template_id: str | None = Field(None, description="d-…; mutually exclusive with content.")
    attachments: list[Attachment] | None = Field(None, max_length=10)
    headers: dict[str, str] | None = None
    categories: list[str] | None = Field(None, max_length=10)
    custom_args: dict[str, str] | None = None
    send_at: int | None = Field(None, description="Unix seconds, at most 72 h ahead; a future "
                                "value needs mail.schedule.")  # fmt: skip
    batch_id: str | None = Field(None, description="From POST /v3/mail/batch; needs mail.schedule.")
    asm: Asm | None = None
    ip_pool_name: str | None = Field(None, min_length=2, max_length=64)
    mail_settings: MailSettings | None = None
    tracking_settings: TrackingSettings | None = None
    sections: dict[str, str] | None = Field(None, description="Legacy section tags.")


class MailSendAccepted(BaseModel):
    """`message_id` for one personalization, `message_ids` for several; also X-Message-Id."""

    message_id: str | None = None
    message_ids: list[str] | None = None


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined, for a route's `openapi_extra`."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
