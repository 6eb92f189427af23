"""`Reads` (scaisend_core.db), the API's per-request lookups without the ORM: on MariaDB straight
through asyncmy's pool in autocommit (every read sees the latest commit, a connection killed by
the server is replaced), on SQLite through the engine; the key, sender-domain and reference
lookups answer the same on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, update

from scaisend_core.crypto import sha256_hex
from scaisend_core.db import (
    DriverReads,
    EngineReads,
    Reads,
    SessionFactory,
    _driver_insert,
    create_engine_for_url,
    create_session_factory,
    open_reads,
)
from scaisend_core.ids import new_id
from scaisend_core.migrate import upgrade
from scaisend_core.models import ApiKey, SenderDomain, Tenant, utcnow
from scaisend_core.repositories import mail as mail_repo
from scaisend_core.repositories.api_keys import create_api_key, grants_by_hash
from scaisend_core.repositories.sender_domains import may_send_from
from scaisend_core.repositories.tenants import create_tenant


@pytest.fixture
async def driver_reads(db: AsyncEngine) -> AsyncIterator[Reads]:
    reads = await open_reads(db, size=2, recycle=60)
    assert isinstance(reads, DriverReads)
    yield reads
    await reads.close()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


async def test_driver_reads_see_each_commit_at_once(
    driver_reads: Reads, sessions: SessionFactory
) -> None:
    assert await driver_reads.first("SELECT name FROM tenants WHERE id = :id", {"id": "x"}) is None
    async with sessions() as session:
        tenant = await create_tenant(session, "Reads Inc")
        await session.commit()
    statement = "SELECT name, status FROM tenants WHERE id = :id"
    assert await driver_reads.first(statement, {"id": tenant.id}) == ("Reads Inc", "active")
    async with sessions() as session:
        await session.exec(update(Tenant).where(col(Tenant.id) == tenant.id).values(name="Renamed"))
        await session.commit()
    assert await driver_reads.first(statement, {"id": tenant.id}) == ("Renamed", "active")


async def test_driver_reads_replace_a_connection_the_server_killed(
    driver_reads: Reads, db: AsyncEngine
) -> None:
    row = await driver_reads.first("SELECT CONNECTION_ID()", {})
    assert row is not None
    async with db.connect() as conn:
        await conn.execute(text(f"KILL {int(row[0])}"))
    assert await driver_reads.first("SELECT :n + 1", {"n": 41}) == (42,)


def test_a_percent_sign_in_a_statement_is_refused() -> None:
    from scaisend_core.db import _positional

    with pytest.raises(ValueError, match="write % as a parameter"):
        _positional("SELECT 1 FROM t WHERE name LIKE 'a%'")
    assert _positional("SELECT :a, :b_2, :a FROM t") == (
        "SELECT %s, %s, %s FROM t",
        ("a", "b_2", "a"),
    )


async def test_reads_run_as_prepared_statements(driver_reads: Reads) -> None:
    """Named parameters go to the driver positionally, so a read is a server-side prepared
    statement (binary protocol), prepared once per connection and then only executed."""
    before = await _statements_executed(driver_reads)
    for n in (1, 2):
        assert await driver_reads.first("SELECT :n + :m, :n", {"n": n, "m": 40}) == (n + 40, n)
    # the SHOW of _statements_executed has no parameters: it goes as plain text
    assert await _statements_executed(driver_reads) == before + 2


async def _lookups_answer_the_same(reads: Reads, sessions: SessionFactory) -> None:
    """Keys: usable, revoked, expired, suspended tenant, unknown; domains: verified and
    active only, exact match; templates, batches and ASM groups of the tenant only."""
    async with sessions() as session:
        tenant = await create_tenant(session, "Lookup Inc")
        other = await create_tenant(session, "Other Inc")
        live = await create_api_key(session, tenant_id=tenant.id, name="a", scopes=["mail.send"])
        revoked = await create_api_key(session, tenant_id=tenant.id, name="b", scopes=[])
        expired = await create_api_key(session, tenant_id=tenant.id, name="c", scopes=[])
        theirs = await create_api_key(session, tenant_id=other.id, name="d", scopes=[])
        revoked.row.revoked_at = utcnow()
        expired.row.expires_at = utcnow() - timedelta(seconds=1)
        other.status = "suspended"
        for domain, verified, active in (("ok.test", True, True), ("new.test", False, True),
                                         ("off.test", True, False)):  # fmt: skip
            session.add(SenderDomain(
                id=new_id("dom"), tenant_id=tenant.id, domain=domain, verified=verified,
                is_active=active, return_path_host=f"b.{domain}", dkim_private_key="-",
                dkim_public_key="-",
            ))  # fmt: skip
        await session.commit()
    hashes = [sha256_hex(k.secret) for k in (live, revoked, expired, theirs)] + [sha256_hex("no")]
    grants = await grants_by_hash(reads, hashes, utcnow())
    assert set(grants) == set(hashes[:4])
    assert grants[hashes[0]].scopes == frozenset({"mail.send"})
    assert (grants[hashes[0]].tenant_id, grants[hashes[0]].environment) == (tenant.id, "live")
    assert [grants[h].usable for h in hashes[:4]] == [True, False, False, True]
    assert [grants[h].tenant_status for h in (hashes[0], hashes[3])] == ["active", "suspended"]

    pairs = [(tenant.id, "ok.test"), (tenant.id, "new.test"), (tenant.id, "off.test"),
             (other.id, "ok.test"), (tenant.id, "sub.ok.test"), (tenant.id, "ok.test")]  # fmt: skip
    assert await may_send_from(reads, pairs) == [True, False, False, False, False, True]

    assert not await mail_repo.template_usable(reads, tenant.id, "d-missing")
    assert not await mail_repo.batch_exists(reads, tenant.id, "missing")
    assert await mail_repo.existing_asm_groups(reads, tenant.id, [1, 2]) == set()


async def test_lookups_on_mariadb(driver_reads: Reads, sessions: SessionFactory) -> None:
    await _lookups_answer_the_same(driver_reads, sessions)


async def test_lookups_on_sqlite(sqlite_engine: AsyncEngine) -> None:
    reads = await open_reads(sqlite_engine, size=2, recycle=60)
    assert isinstance(reads, EngineReads)
    await _lookups_answer_the_same(reads, create_session_factory(sqlite_engine))
    await reads.close()


async def test_revoking_through_the_orm_is_seen_by_the_next_lookup(
    driver_reads: Reads, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        tenant = await create_tenant(session, "Revoke Inc")
        key = await create_api_key(session, tenant_id=tenant.id, name="k", scopes=[])
        await session.commit()
    key_hash = sha256_hex(key.secret)
    assert (await grants_by_hash(driver_reads, [key_hash], utcnow()))[key_hash].usable
    async with sessions() as session:
        await session.exec(
            update(ApiKey).where(col(ApiKey.id) == key.row.id).values(revoked_at=utcnow())
        )
        await session.commit()
    assert not (await grants_by_hash(driver_reads, [key_hash], utcnow()))[key_hash].usable


def _tenant_row(tenant_id: str) -> dict[str, object]:
    """Every column named, so insert_many takes the driver path (no default to compute)."""
    now = utcnow()
    return {
        "id": tenant_id, "scaikey_id": None, "partner_id": None, "name": "X", "slug": tenant_id,
        "status": "active", "settings": {}, "created_at": now, "updated_at": now,
    }  # fmt: skip


def _key_row(tenant_id: str, key_hash: str) -> dict[str, object]:
    return {
        "id": "key_dup", "tenant_id": tenant_id, "name": "k", "key_hash": key_hash,
        "prefix": "p", "environment": "live", "scopes": [], "created_by": None,
        "created_at": utcnow(), "last_used_at": None, "expires_at": None, "revoked_at": None,
    }  # fmt: skip


_TENANTS: Table = Tenant.__table__  # type: ignore[attr-defined]
_KEYS: Table = ApiKey.__table__  # type: ignore[attr-defined]


async def test_insert_many_commits_every_table_or_none(
    driver_reads: Reads, db: AsyncEngine, sessions: SessionFactory
) -> None:
    """One transaction: a failing second table leaves the first one unwritten (and the error
    is SQLAlchemy's); the pooled connection is usable afterwards."""
    async with sessions() as session:
        tenant = await create_tenant(session, "Insert Inc")
        await session.commit()
    keys = [_key_row(tenant.id, "h1"), _key_row(tenant.id, "h2")]  # the same id twice
    for table, rows in ((_TENANTS, [_tenant_row("tnt_x1")]), (_KEYS, keys)):
        assert _driver_insert(db.dialect, table, rows) is not None
    with pytest.raises(IntegrityError):
        await driver_reads.insert_many([(_TENANTS, [_tenant_row("tnt_x1")]), (_KEYS, keys)])
    assert await driver_reads.first("SELECT id FROM tenants WHERE id = 'tnt_x1'", {}) is None
    await driver_reads.insert_many([(_TENANTS, [_tenant_row("tnt_x1")])])
    row = await driver_reads.first("SELECT settings FROM tenants WHERE id = 'tnt_x1'", {})
    assert row == ("{}",)


async def test_insert_many_survives_a_connection_the_server_killed(
    driver_reads: Reads, db: AsyncEngine
) -> None:
    row = await driver_reads.first("SELECT CONNECTION_ID()", {})
    assert row is not None
    async with db.connect() as conn:
        await conn.execute(text(f"KILL {int(row[0])}"))
    await driver_reads.insert_many([(_TENANTS, [_tenant_row("tnt_k1")])])
    found = await driver_reads.first("SELECT id FROM tenants WHERE id = 'tnt_k1'", {})
    assert found == ("tnt_k1",)


async def _statements_executed(reads: Reads) -> int:
    """Prepared-statement executions on this session (the test's pool holds one connection)."""
    row = await reads.first("SHOW SESSION STATUS LIKE 'Com_stmt_execute'", {})
    assert row is not None
    return int(row[1])


async def test_insert_many_sends_rows_as_one_binary_bulk_statement(
    driver_reads: Reads, sessions: SessionFactory
) -> None:
    """Rows go as one prepared statement bound in binary (no escaping, no SQL text to parse),
    a column NULL in every row (created_by, revoked_at) included; what reads back is what was
    given: NULLs, a datetime beside a NULL in one column, the JSON list."""
    async with sessions() as session:
        tenant = await create_tenant(session, "Bulk Inc")
        await session.commit()
    expires = utcnow().replace(microsecond=0) + timedelta(days=3)
    first, second = _key_row(tenant.id, "hb1"), _key_row(tenant.id, "hb2")
    first.update(id="key_b1", scopes=["mail.send"], expires_at=expires)
    second.update(id="key_b2")
    before = await _statements_executed(driver_reads)
    await driver_reads.insert_many([(_KEYS, [first, second])])
    assert await _statements_executed(driver_reads) == before + 1
    rows = await driver_reads.all(
        "SELECT id, scopes, expires_at, created_by, revoked_at FROM api_keys"
        " WHERE tenant_id = :tenant_id ORDER BY id",
        {"tenant_id": tenant.id},
    )
    assert rows == [
        ("key_b1", '["mail.send"]', expires.replace(tzinfo=None), None, None),
        ("key_b2", "[]", None, None, None),
    ]


async def test_rows_split_over_bulk_statements_commit_together(
    driver_reads: Reads, sessions: SessionFactory
) -> None:
    """Rows too big for one statement go as several, in one transaction: a duplicate in the
    last of them leaves none of the rows before it written."""
    blob = {"note": "x" * 600_000}  # three rows: more than one ~1 MB statement
    rows = [_tenant_row(f"tnt_c{i}") | {"settings": blob} for i in range(3)]
    rows[2]["id"] = "tnt_c0"
    before = await _statements_executed(driver_reads)
    with pytest.raises(IntegrityError):
        await driver_reads.insert_many([(_TENANTS, rows)])
    assert await _statements_executed(driver_reads) >= before + 2
    stored = "SELECT id FROM tenants WHERE id IN ('tnt_c0', 'tnt_c1')"
    assert await driver_reads.all(stored, {}) == []
