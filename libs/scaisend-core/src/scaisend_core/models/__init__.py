"""Every table, re-exported so `SQLModel.metadata` is complete after one import."""

from scaisend_core.models.access import (
    ApiKey,
    ApiKeyEnvironment,
    GroupRoleMapping,
    Permission,
    Role,
    RolePermission,
    UserRole,
)
from scaisend_core.models.domains import SenderDomain
from scaisend_core.models.messages import (
    EmailMessage,
    MailBatch,
    MessageAttachment,
    MessageEvent,
    MessageRecipient,
    MessageStatus,
    RecipientKind,
    RecipientStatus,
)
from scaisend_core.models.stats import METRICS, DailyStats
from scaisend_core.models.suppressions import (
    AsmGroup,
    AsmSuppression,
    Suppression,
    SuppressionKind,
)
from scaisend_core.models.system import IdempotencyKey, ProcessedWebhookEvent
from scaisend_core.models.templates import Image, Template, TemplateVersion
from scaisend_core.models.tenancy import (
    Group,
    Partner,
    Tenant,
    TenantSettings,
    TenantStatus,
    User,
    UserGroup,
)
from scaisend_core.models.types import utcnow
from scaisend_core.models.webhooks import (
    DeliveryStatus,
    EndpointKind,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "METRICS",
    "ApiKey",
    "ApiKeyEnvironment",
    "AsmGroup",
    "AsmSuppression",
    "DailyStats",
    "DeliveryStatus",
    "EmailMessage",
    "EndpointKind",
    "Group",
    "GroupRoleMapping",
    "IdempotencyKey",
    "Image",
    "MailBatch",
    "MessageAttachment",
    "MessageEvent",
    "MessageRecipient",
    "MessageStatus",
    "Partner",
    "Permission",
    "ProcessedWebhookEvent",
    "RecipientKind",
    "RecipientStatus",
    "Role",
    "RolePermission",
    "SenderDomain",
    "Suppression",
    "SuppressionKind",
    "Template",
    "TemplateVersion",
    "Tenant",
    "TenantSettings",
    "TenantStatus",
    "User",
    "UserGroup",
    "UserRole",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
