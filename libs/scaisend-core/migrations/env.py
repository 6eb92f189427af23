"""Alembic environment: async engine, same revisions for MySQL/MariaDB and SQLite."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import scaisend_core.models  # noqa: F401  (registers every table on SQLModel.metadata)
from scaisend_core.config import normalise_database_url
from scaisend_core.db import create_engine_for_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass DATABASE_URL")
    return normalise_database_url(str(url))


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    if connection is not None:
        is_sqlite = connection.dialect.name == "sqlite"
    else:
        is_sqlite = (url or _url()).startswith("sqlite")
    context.configure(
        connection=connection,
        url=url if connection is None else None,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        literal_binds=connection is None,
        dialect_opts={"paramstyle": "named"} if connection is None else {},
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine_for_url(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (given := config.attributes.get("connection")) is not None:
    _run_sync(given)  # called from scaisend_core.migrate inside a running event loop
else:
    asyncio.run(run_migrations_online())
