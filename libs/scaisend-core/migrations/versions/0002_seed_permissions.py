"""seed the 17 permissions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
_PERMISSIONS = [
    ("mail.send", "mail", "Send mail via POST /v3/mail/send"),
    ("mail.schedule", "mail", "Use send_at (future) or batch grouping on send"),
    ("mail.cancel", "mail", "Cancel a queued or processing message"),
    ("templates.read", "templates", "List/read templates and versions"),
    ("templates.write", "templates", "Create/update templates and versions"),
    ("templates.delete", "templates", "Delete templates and versions"),
    ("suppressions.read", "suppressions", "List bounces, spam reports, groups"),
    ("suppressions.write", "suppressions", "Add/remove suppressions, edit groups"),
    ("stats.read", "stats", "Read stats, category breakdowns, totals"),
    ("stats.export", "stats", "Trigger stats exports and rebuilds"),
    ("webhooks.read", "webhooks", "List webhook endpoints and event settings"),
    ("webhooks.write", "webhooks", "Create, update, delete webhook endpoints"),
    ("domains.read", "domains", "List sender domains"),
    ("domains.write", "domains", "Add domains, verify DNS, rotate DKIM keys"),
    ("admin.api_keys", "admin", "Create, update, revoke API keys"),
    ("admin.users", "admin", "Assign/remove user-role mappings"),
    ("admin.settings", "admin", "Edit tenant settings (tracking, defaults)"),
]

_table = sa.table(
    "permissions",
    sa.column("id", sa.String),
    sa.column("category", sa.String),
    sa.column("description", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(_table, [{"id": i, "category": c, "description": d} for i, c, d in _PERMISSIONS])


def downgrade() -> None:
    op.execute(_table.delete())
