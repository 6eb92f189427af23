"""What every benchmark sets up the way the tests do: a scratch MariaDB database, a Redis db number
claimed with the tests' lock, and free loopback ports. Imported as `_env` (bench/ is on sys.path
when a benchmark runs as `python bench/<name>.py`)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import text

MARIADB = os.environ.get("TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database() -> Iterator[str]:
    name = f"scaisend_bench_{os.getpid()}"
    asyncio.run(_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield f"{MARIADB}/{name}"
    finally:
        asyncio.run(_sql(f"DROP DATABASE IF EXISTS `{name}`"))


async def _sql(statement: str) -> None:
    from scaisend_core.db import create_engine_for_url

    engine = create_engine_for_url(MARIADB + "/mysql")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@contextmanager
def redis_db() -> Iterator[str]:
    """Claim a Redis db number with the tests' lock so a concurrent test run is never hit."""
    control = redis.Redis.from_url(f"{REDIS}/0")
    owner = f"bench-{os.getpid()}"
    for db in range(15, 0, -1):
        if control.set(f"scaisend-test-db:{db}", owner, nx=True, ex=3600):
            break
    else:
        raise SystemExit("no free Redis db (1-15 are all claimed)")
    redis.Redis.from_url(f"{REDIS}/{db}").flushdb()
    try:
        yield f"{REDIS}/{db}"
    finally:
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()
        control.delete(f"scaisend-test-db:{db}")
