"""Redis connections for arq pools (also used for rate limits and caches), from REDIS_URL."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings, create_pool


def arq_redis_settings(url: str) -> RedisSettings:
    """redis://, rediss:// and unix:///path.sock?db=N (embedded mode's private Redis)."""
    return RedisSettings.from_dsn(url)


async def create_arq_pool(url: str) -> ArqRedis:
    return await create_pool(arq_redis_settings(url))
