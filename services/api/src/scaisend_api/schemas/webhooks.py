"""Bodies of /v3/user/webhooks (ScaiSend endpoints, their delivery log) and of SendGrid's Event
Webhook settings. No response model has a field for an OAuth client secret or a private key;
the signing secret appears only in the create and rotate responses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

URL_FIELD = Field(max_length=2048, description="Where events are POSTed; HTTPS in production.")


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = URL_FIELD
    enabled_events: list[str] = Field(
        min_length=1, description='Event types to receive, or ["*"] for all of them.'
    )
    oauth_client_id: str | None = Field(None, max_length=255)
    oauth_client_secret: str | None = Field(None, max_length=1024)
    oauth_token_url: str | None = Field(
        None, max_length=2048, description="OAuth2 token URL (client credentials grant)."
    )


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2048)
    enabled_events: list[str] | None = Field(None, min_length=1)
    enabled: bool | None = Field(
        None, description="false pauses delivery; true resumes it and clears an auto-disable."
    )
    oauth_client_id: str | None = Field(None, max_length=255, description='"" removes OAuth.')
    oauth_client_secret: str | None = Field(None, max_length=1024)
    oauth_token_url: str | None = Field(None, max_length=2048)


class EndpointOut(BaseModel):
    id: str
    url: str
    enabled_events: list[str]
    enabled: bool
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    failure_count: int
    disabled_at: datetime | None = Field(
        description="Set when 10 consecutive failures disabled it."
    )
    oauth_client_id: str | None = None
    oauth_token_url: str | None = None


class EndpointCreated(EndpointOut):
    signing_secret: str = Field(description="whsec_… — shown once; store it now.")


class EndpointList(BaseModel):
    webhooks: list[EndpointOut]
    total: int


class SigningSecretOut(BaseModel):
    signing_secret: str


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    response: str = Field(description="The start of the response body.")
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str | None
    status: str = Field(description="pending, succeeded or failed.")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_response: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    total: int


class EventWebhookSettings(BaseModel):
    """SendGrid's Event Webhook settings object: one URL, one switch per event type."""

    enabled: bool
    url: str
    processed: bool
    dropped: bool
    delivered: bool
    deferred: bool
    bounce: bool
    open: bool
    click: bool
    spam_report: bool
    unsubscribe: bool
    group_unsubscribe: bool
    group_resubscribe: bool
    oauth_client_id: str
    oauth_token_url: str


class EventWebhookUpdate(BaseModel):
    """Any subset of the settings (SendGrid's clients send all of them); unknown keys are
    ignored, as SendGrid does. Empty OAuth strings remove OAuth."""

    model_config = ConfigDict(extra="ignore")

    enabled: bool | None = None
    url: str | None = Field(None, max_length=2048)
    processed: bool | None = None
    dropped: bool | None = None
    delivered: bool | None = None
    deferred: bool | None = None
    bounce: bool | None = None
    open: bool | None = None
    click: bool | None = None
    spam_report: bool | None = None
    unsubscribe: bool | None = None
    group_unsubscribe: bool | None = None
    group_resubscribe: bool | None = None
    oauth_client_id: str | None = Field(None, max_length=255)
    oauth_client_secret: str | None = Field(None, max_length=1024)
    oauth_token_url: str | None = Field(None, max_length=2048)


class SignedSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool


class SignedSettingsOut(BaseModel):
    public_key: str = Field(description="Base64 DER of the ECDSA P-256 key; empty when unsigned.")


class EventWebhookTest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = URL_FIELD
    oauth_client_id: str | None = Field(None, max_length=255)
    oauth_client_secret: str | None = Field(None, max_length=1024)
    oauth_token_url: str | None = Field(None, max_length=2048)
