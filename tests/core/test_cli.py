"""The operator commands of `scaisend`, run as an operator runs them: the installed console script
in a subprocess, configured by DATABASE_URL only. `migrate` on an empty MariaDB database creates
every table and is a no-op the second time; `tenants create` and `keys create` print the id and the
secret on a line of their own (JSON with --json) and leave rows a key lookup finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import scaisend_core.models  # noqa: F401  (every table on the metadata)
from scaisend_core.crypto import sha256_hex
from scaisend_core.db import create_engine_for_url
from tests.fixtures.environment import MARIADB_URL

SCAISEND = str(Path(sys.executable).parent / "scaisend")


def scaisend(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with only DATABASE_URL set (no test settings leak in)."""
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url, "HOME": os.environ["HOME"]}
    return subprocess.run(
        [SCAISEND, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
async def empty_mariadb(run_id: str) -> AsyncIterator[str]:
    """A database of its own, empty, dropped afterwards: its URL."""
    name = f"scaisend_cli_{run_id}"
    server = create_engine_for_url(MARIADB_URL + "/mysql")
    async with server.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield f"{MARIADB_URL}/{name}"
    finally:
        async with server.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await server.dispose()


async def _tables_and_revision(url: str) -> tuple[set[str], str]:
    engine: AsyncEngine = create_engine_for_url(url)
    try:
        async with engine.connect() as conn:
            names = {row[0] for row in await conn.execute(text("SHOW TABLES"))}
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return names, revision


async def test_migrate_creates_every_table_and_twice_is_a_no_op(empty_mariadb: str) -> None:
    first = scaisend(empty_mariadb, "migrate")
    assert first.returncode == 0, first.stderr
    tables, revision = await _tables_and_revision(empty_mariadb)
    assert set(SQLModel.metadata.tables) | {"alembic_version"} == tables

    second = scaisend(empty_mariadb, "migrate")
    assert second.returncode == 0, second.stderr
    assert await _tables_and_revision(empty_mariadb) == (tables, revision)


def test_migrate_sql_prints_the_schema_and_touches_nothing(tmp_path: Path) -> None:
    db = tmp_path / "never-created.db"
    result = scaisend(f"sqlite+aiosqlite:///{db}", "migrate", "--sql")
    assert result.returncode == 0, result.stderr
    created = {
        line.split()[2] for line in result.stdout.splitlines() if line.startswith("CREATE TABLE ")
    }
    assert created == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert not db.exists()


def test_without_database_url_the_error_names_it() -> None:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]}
    result = subprocess.run(
        [SCAISEND, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr.upper()
    assert "Traceback" not in result.stderr


async def test_tenants_and_keys_create_print_id_and_secret_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert scaisend(url, "migrate").returncode == 0

    plain = scaisend(url, "tenants", "create", "Acme Mail")
    assert plain.returncode == 0, plain.stderr
    tenant_id = plain.stdout.strip()
    assert tenant_id.startswith("tnt_")
    assert "\n" not in tenant_id

    as_json = json.loads(scaisend(url, "tenants", "create", "Other Co", "--json").stdout)
    assert as_json["id"].startswith("tnt_")
    assert as_json["name"] == "Other Co"

    key = scaisend(
        url, "keys", "create", "--tenant", tenant_id, "--scopes", "mail.send,stats.read",
        "--environment", "test", "--name", "ci",
    )  # fmt: skip
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    assert "\n" not in secret
    assert len(secret) > 20

    minted = json.loads(
        scaisend(
            url, "keys", "create", "--tenant", tenant_id, "--scopes", "mail.send", "--json"
        ).stdout
    )
    assert minted["tenant_id"] == tenant_id
    assert minted["environment"] == "live"

    engine = create_engine_for_url(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, environment, name, scopes, key_hash FROM api_keys ORDER BY name"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    by_hash = {row.key_hash: row for row in rows}
    assert secret not in {str(v) for row in rows for v in row}  # only the hash is stored
    row = by_hash[sha256_hex(secret)]
    assert (row.tenant_id, row.environment, row.name) == (tenant_id, "test", "ci")
    assert sorted(json.loads(row.scopes)) == ["mail.send", "stats.read"]
    assert sha256_hex(minted["api_key"]) in by_hash


def test_keys_create_for_an_unknown_tenant_is_a_usage_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert scaisend(url, "migrate").returncode == 0
    result = scaisend(url, "keys", "create", "--tenant", "tnt_nope", "--scopes", "mail.send")
    assert result.returncode == 2
    assert "no tenant 'tnt_nope'" in result.stderr
    assert result.stdout == ""
