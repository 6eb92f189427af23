"""Run Alembic from code (CLI, tests, `scaisend up`) against an async engine."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import scaisend_core


def migrations_dir() -> Path:
    """Inside the wheel the scripts sit in the package; in the source tree, beside `src/`."""
    packaged = Path(scaisend_core.__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(scaisend_core.__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["configure_logging"] = False
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def _run(connection: Connection, action: str, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    getattr(command, action)(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision)


def upgrade_sql(database_url: str, revision: str = "head") -> str:
    """The DDL `upgrade` would run, for operators who apply migrations by hand."""
    buffer = io.StringIO()
    cfg = alembic_config(database_url)
    cfg.output_buffer = buffer
    command.upgrade(cfg, revision, sql=True)
    return buffer.getvalue()
