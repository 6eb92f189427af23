"""CoreSettings: every environment variable the three services share, typed and validated once."""

from __future__ import annotations

import socket
from functools import cached_property
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values people paste from examples; refusing them keeps a demo secret out of production.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "changethis", "change-me", "secret", "placeholder", "your-secret-key", "xxx"}
)
MIN_SECRET_LENGTH = 32
DEFAULT_RETRY_SCHEDULE = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 28800)

Environment = Literal["production", "development", "test", "embedded"]
DeliveryMode = Literal["mx", "smarthost", "capture"]
SmarthostTls = Literal["starttls", "tls", "none"]


def _split_csv(value: object) -> object:
    """Comma-separated env values become lists; JSON-style lists from code pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def normalise_database_url(url: str) -> str:
    """Accept the URL spellings the docs use and always drive MySQL through asyncmy."""
    for prefix in ("mysql+aiomysql://", "mysql+pymysql://", "mysql+mysqldb://", "mysql://"):
        if url.startswith(prefix):
            return "mysql+asyncmy://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class CoreSettings(BaseSettings):
    """Shared configuration. Services subclass it for their own knobs."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_file=None)

    environment: Environment = Field(
        "production", description="production, development, test or embedded (scaisend up)."
    )
    database_url: str = Field(
        ..., description="mysql+asyncmy://user:pass@host/db or sqlite+aiosqlite:///path."
    )
    redis_url: str = Field(..., description="redis://host:6379/0 or unix:///path/redis.sock.")
    secret_key: SecretStr = Field(
        ..., description="Encrypts secrets at rest and signs tracking links (>= 32 characters)."
    )
    secret_key_previous: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Older SECRET_KEY values still accepted for decryption during a rotation.",
    )

    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint URL.")
    s3_bucket: str | None = Field(None, description="Bucket for attachments, images and MIME.")
    s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    storage_dir: str | None = Field(None, description="Local directory used instead of S3.")

    scaikey_url: str | None = Field(None, description="ScaiKey base URL (identity and sync).")
    scaikey_jwks_url: str | None = Field(None, description="JWKS URL for ScaiKey JWTs.")
    scaikey_issuer: str | None = Field(None, description="Expected `iss` of ScaiKey JWTs.")
    scaikey_audience: str | None = Field(None, description="Expected `aud` of ScaiKey JWTs.")
    scaikey_webhook_secret: SecretStr | None = Field(
        None, description="Verifies POST /webhooks/scaikey signatures."
    )
    scaikey_client_id: str | None = Field(None, description="OAuth client id at ScaiKey.")
    scaikey_client_secret: SecretStr | None = Field(
        None, description="OAuth client secret at ScaiKey."
    )

    public_base_url: str = Field(
        "http://localhost:8000", description="Public URL of the API for tracking and image links."
    )
    mx_cache_ttl: int = Field(3600, ge=0, description="Seconds an MX answer stays cached.")
    mx_negative_cache_ttl: int = Field(
        300, ge=0, description="Seconds a failed MX lookup stays cached."
    )
    smtp_pool_size_per_domain: int = Field(
        5, ge=1, description="Open connections per MX host per SMTP process."
    )
    smtp_mx_port: int = Field(25, ge=1, le=65535, description="TCP port of recipient MX servers.")
    smtp_delivery: DeliveryMode = Field("mx", description="mx, smarthost or capture.")
    smtp_smarthost: str | None = Field(None, description="host[:port] relay for smarthost mode.")
    smtp_smarthost_username: str | None = Field(None, description="Smarthost AUTH username.")
    smtp_smarthost_password: SecretStr | None = Field(None, description="Smarthost AUTH password.")
    smtp_smarthost_tls: SmarthostTls = Field("starttls", description="starttls, tls or none.")
    smtp_capture_dir: str = Field(
        ".scaisend/outbox", description="Where capture mode writes signed .eml files."
    )
    smtp_require_tls: bool = Field(
        False, description="Refuse to deliver to MX hosts that do not offer STARTTLS."
    )
    smtp_verify_tls: bool = Field(
        False, description="Verify MX certificates (opportunistic TLS does not, per RFC 7435)."
    )
    smtp_connect_timeout: float = Field(30.0, gt=0, description="Seconds to connect to an MX.")
    smtp_command_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for one SMTP reply."
    )
    smtp_retry_schedule: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE),
        description="Comma-separated seconds between delivery attempts after a 4xx.",
    )
    smtp_max_retry_age: int = Field(
        259200, gt=0, description="Seconds after which a deferred message bounces as expired."
    )
    smtp_domain_concurrency: int = Field(
        20, ge=1, description="Concurrent deliveries per recipient domain across SMTP replicas."
    )
    smtp_domain_rate_per_minute: int = Field(
        6000, ge=1, description="Messages per minute per recipient domain across replicas."
    )
    smtp_host_backoff: int = Field(
        300, ge=0, description="Seconds an MX host is left alone after a 421 or refusal."
    )
    smtp_inbound_host: str = Field("0.0.0.0", description="Inbound DSN/ARF listener address.")
    smtp_inbound_port: int = Field(25, ge=1, le=65535, description="Inbound listener port.")
    smtp_inbound_tls_cert: str | None = Field(None, description="PEM cert enabling STARTTLS.")
    smtp_inbound_tls_key: str | None = Field(None, description="PEM key for STARTTLS.")
    smtp_inbound_max_size: int = Field(
        10_485_760, gt=0, description="Largest inbound message accepted, in bytes."
    )
    smtp_inbound_max_connections_per_ip: int = Field(
        20, ge=1, description="Concurrent inbound connections from one IP."
    )
    inbound_domain: str | None = Field(
        None, description="Host of fbl@/abuse@ and the default bounce host (default: EHLO host)."
    )
    ehlo_hostname: str = Field(
        default_factory=socket.getfqdn, description="Name used in EHLO and Message-IDs."
    )
    spf_include: str | None = Field(
        None, description="Domain sender domains' SPF must `include:` (default: inbound host)."
    )
    dns_nameservers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated host[:port] resolvers (system if empty)."
    )

    rate_limit_enabled: bool = Field(True, description="Turns API rate limiting on or off.")
    rate_limit_mail_send_per_second: int = Field(10000, ge=1, description="Per tenant.")
    rate_limit_api_key_create_per_minute: int = Field(10, ge=1, description="Per tenant.")
    rate_limit_webhook_create_per_minute: int = Field(10, ge=1, description="Per tenant.")
    rate_limit_messages_list_per_second: int = Field(100, ge=1, description="Per credential.")
    rate_limit_default_per_second: int = Field(1000, ge=1, description="Per credential.")

    db_pool_size: int = Field(10, ge=1, description="SQLAlchemy pool size (MySQL).")
    db_max_overflow: int = Field(20, ge=0, description="Connections above the pool size.")
    db_pool_recycle: int = Field(1800, ge=1, description="Seconds before a connection recycles.")
    db_echo: bool = Field(False, description="Log every SQL statement.")

    message_retention_days: int = Field(
        30, ge=1, description="Days rendered bodies and attachments are kept."
    )
    webhook_allow_private: bool = Field(
        False, description="Allow webhook URLs on private/loopback addresses."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["json", "text"] = Field("json", description="json or text logs.")

    @field_validator("secret_key_previous", "dns_nameservers", mode="before")
    @classmethod
    def _csv_strings(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("smtp_retry_schedule", mode="before")
    @classmethod
    def _csv_ints(cls, value: object) -> object:
        parts = _split_csv(value)
        if isinstance(parts, list):
            return [int(str(p)) for p in parts]
        return parts

    @field_validator("database_url")
    @classmethod
    def _normalise_db(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_secret_and_storage(self) -> CoreSettings:
        secret = self.secret_key.get_secret_value()
        if self.environment != "embedded":
            if secret.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "SECRET_KEY is empty or a placeholder; set a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)."
                )
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters.")
        if not self.s3_bucket and not self.storage_dir:
            raise ValueError("Configure storage: set S3_BUCKET (with S3_*) or STORAGE_DIR.")
        if self.smtp_delivery == "smarthost" and not self.smtp_smarthost:
            raise ValueError("SMTP_DELIVERY=smarthost needs SMTP_SMARTHOST=host[:port].")
        if not self.smtp_retry_schedule:
            raise ValueError("SMTP_RETRY_SCHEDULE needs at least one delay.")
        return self

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def inbound_host(self) -> str:
        """The host our fbl@/abuse@ and default bounce addresses live on."""
        return self.inbound_domain or self.ehlo_hostname

    @cached_property
    def spf_include_host(self) -> str:
        """The `include:` target a sender domain's SPF record must name to verify."""
        return (self.spf_include or self.inbound_host).lower().rstrip(".")

    @cached_property
    def public_host(self) -> str:
        return urlsplit(self.public_base_url).hostname or "localhost"


class DatabaseSettings(BaseSettings):
    """What the operator commands (`migrate`, `tenants`, `keys`) need: a database and no more."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_file=None)

    database_url: str = Field(..., description="Same as CoreSettings.database_url.")
    db_echo: bool = False

    @field_validator("database_url")
    @classmethod
    def _normalise_db(cls, value: str) -> str:
        return normalise_database_url(value)


class ConfigurationError(Exception):
    """The environment does not describe a runnable service; the message lists what is wrong."""


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build settings from the environment, turning pydantic's report into one clear message."""
    try:
        return cls()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(lines)) from None
