"""Migrations create the whole schema on MariaDB and SQLite, downgrade cleanly, and match the
models (an autogenerate comparison finds nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import scaisend_core.models  # noqa: F401
from scaisend_core.db import create_engine_for_url
from scaisend_core.migrate import downgrade, upgrade
from tests.fixtures.environment import MARIADB_URL

EXPECTED_TABLES = set(SQLModel.metadata.tables)


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


@pytest.fixture(params=["mariadb", "sqlite"])
async def scratch(
    request: pytest.FixtureRequest, run_id: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An empty database on each backend the migrations must support."""
    if request.param == "sqlite":
        engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'scaisend.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"scaisend_scratch_{run_id}"
    server = create_engine_for_url(MARIADB_URL + "/mysql")
    async with server.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    engine = create_engine_for_url(f"{MARIADB_URL}/{name}")
    yield engine
    await engine.dispose()
    async with server.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    await server.dispose()


async def test_upgrade_creates_every_table_and_downgrade_removes_them(
    scratch: AsyncEngine,
) -> None:
    engine = scratch
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) == EXPECTED_TABLES
        count = (await conn.execute(text("SELECT COUNT(*) FROM permissions"))).scalar_one()
        assert count == 17
    await upgrade(engine)  # a second upgrade is a no-op
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) == set()


async def test_models_and_migrations_do_not_drift(scratch: AsyncEngine) -> None:
    engine = scratch
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
