"""The 17 permission strings of the docs and the default roles every new tenant gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PermissionSpec:
    name: str
    category: str
    description: str


PERMISSIONS: tuple[PermissionSpec, ...] = (
    PermissionSpec("mail.send", "mail", "Send mail via POST /v3/mail/send"),
    PermissionSpec("mail.schedule", "mail", "Use send_at (future) or batch grouping on send"),
    PermissionSpec("mail.cancel", "mail", "Cancel a queued or processing message"),
    PermissionSpec("templates.read", "templates", "List/read templates and versions"),
    PermissionSpec("templates.write", "templates", "Create/update templates and versions"),
    PermissionSpec("templates.delete", "templates", "Delete templates and versions"),
    PermissionSpec("suppressions.read", "suppressions", "List bounces, spam reports, groups"),
    PermissionSpec("suppressions.write", "suppressions", "Add/remove suppressions, edit groups"),
    PermissionSpec("stats.read", "stats", "Read stats, category breakdowns, totals"),
    PermissionSpec("stats.export", "stats", "Trigger stats exports and rebuilds"),
    PermissionSpec("webhooks.read", "webhooks", "List webhook endpoints and event settings"),
    PermissionSpec("webhooks.write", "webhooks", "Create, update, delete webhook endpoints"),
    PermissionSpec("domains.read", "domains", "List sender domains"),
    PermissionSpec("domains.write", "domains", "Add domains, verify DNS, rotate DKIM keys"),
    PermissionSpec("admin.api_keys", "admin", "Create, update, revoke API keys"),
    PermissionSpec("admin.users", "admin", "Assign/remove user-role mappings"),
    PermissionSpec("admin.settings", "admin", "Edit tenant settings (tracking, defaults)"),
)

ALL_PERMISSIONS: frozenset[str] = frozenset(p.name for p in PERMISSIONS)
PERMISSION_NAMES: tuple[str, ...] = tuple(p.name for p in PERMISSIONS)

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "admin": PERMISSION_NAMES,
    "developer": ("mail.send", "mail.schedule", "templates.read", "stats.read", "webhooks.read"),
    # The docs' third default role is not recoverable; a read-only role is the common third.
    "viewer": tuple(p for p in PERMISSION_NAMES if p.endswith(".read")),
}


def unknown_permissions(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in ALL_PERMISSIONS]
