"""Suppression lists: which addresses a tenant must not mail, and adding to them idempotently."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.ids import new_id
from scaisend_core.models import AsmSuppression, Suppression, SuppressionKind, utcnow


def normalise_email(email: str) -> str:
    """Suppressions match case-insensitively (mailbox local parts are case-insensitive in
    practice, domains always)."""
    return email.strip().lower()


async def suppressed_kinds(
    session: AsyncSession, tenant_id: str, emails: Iterable[str]
) -> dict[str, set[str]]:
    """email -> the list kinds it is on, for every given address that is on any list."""
    wanted = {normalise_email(e) for e in emails}
    if not wanted:
        return {}
    statement = select(Suppression.email, Suppression.kind).where(
        col(Suppression.tenant_id) == tenant_id, col(Suppression.email).in_(wanted)
    )
    found: dict[str, set[str]] = {}
    for email, kind in (await session.exec(statement)).all():
        found.setdefault(email, set()).add(kind)
    return found


_SUPPRESSIONS = Suppression.__table__  # type: ignore[attr-defined]
_ASM = AsmSuppression.__table__  # type: ignore[attr-defined]
# Built once (an `expanding` IN keeps one compiled form whatever the number of addresses).
_KINDS_OF = sa_select(_SUPPRESSIONS.c.email, _SUPPRESSIONS.c.kind).where(
    _SUPPRESSIONS.c.tenant_id == bindparam("tenant_id"),
    _SUPPRESSIONS.c.email.in_(bindparam("emails", expanding=True)),
)
_GROUP_OF = sa_select(_ASM.c.email).where(
    _ASM.c.tenant_id == bindparam("tenant_id"),
    _ASM.c.group_id == bindparam("group_id"),
    _ASM.c.email.in_(bindparam("emails", expanding=True)),
)


async def suppressed_kinds_core(
    conn: AsyncConnection, tenant_id: str, emails: Iterable[str]
) -> dict[str, set[str]]:
    """`suppressed_kinds` on a Core connection, for many messages' recipients at once."""
    wanted = sorted({normalise_email(e) for e in emails})
    if not wanted:
        return {}
    found: dict[str, set[str]] = {}
    for email, kind in await conn.execute(_KINDS_OF, {"tenant_id": tenant_id, "emails": wanted}):
        found.setdefault(email, set()).add(kind)
    return found


async def group_suppressed_core(
    conn: AsyncConnection, tenant_id: str, group_id: int, emails: Iterable[str]
) -> set[str]:
    """`group_suppressed` on a Core connection."""
    wanted = sorted({normalise_email(e) for e in emails})
    if not wanted:
        return set()
    params = {"tenant_id": tenant_id, "group_id": group_id, "emails": wanted}
    return {email for (email,) in await conn.execute(_GROUP_OF, params)}


async def group_suppressed(
    session: AsyncSession, tenant_id: str, group_id: int, emails: Iterable[str]
) -> set[str]:
    wanted = {normalise_email(e) for e in emails}
    if not wanted:
        return set()
    statement = select(AsmSuppression.email).where(
        col(AsmSuppression.tenant_id) == tenant_id,
        col(AsmSuppression.group_id) == group_id,
        col(AsmSuppression.email).in_(wanted),
    )
    return set((await session.exec(statement)).all())


async def add_suppression(
    session: AsyncSession,
    *,
    tenant_id: str,
    kind: SuppressionKind,
    email: str,
    reason: str | None = None,
    status: str | None = None,
    bounce_type: str | None = None,
    source: str = "api",
    message_id: str | None = None,
    ip: str | None = None,
) -> Suppression:
    """Insert, or refresh the existing row (a second bounce updates reason and time)."""
    address = normalise_email(email)
    statement = select(Suppression).where(
        col(Suppression.tenant_id) == tenant_id,
        col(Suppression.kind) == kind.value,
        col(Suppression.email) == address,
    )
    row = (await session.exec(statement)).first()
    if row is None:
        row = Suppression(id=new_id("sup"), tenant_id=tenant_id, kind=kind.value, email=address)
    row.reason, row.status, row.bounce_type = reason, status, bounce_type
    row.source, row.message_id, row.ip, row.created_at = source, message_id, ip, utcnow()
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent writer inserted it first; theirs is as good
        found = (await session.exec(statement)).first()
        assert found is not None
        return found
    return row
