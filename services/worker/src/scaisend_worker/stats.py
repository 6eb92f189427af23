"""The stats cron: roll new message events up into daily_stats, one committed batch at a time,
with a Redis lock so two workers never roll up concurrently."""

from __future__ import annotations

import contextlib

from redis.exceptions import LockError

from scaisend_core.repositories.daily_stats import roll_up
from scaisend_worker.context import WorkerContext

LOCK_KEY = "scaisend:lock:stats-rollup"
LOCK_TTL = 300
BATCH = 5000
MAX_BATCHES = 20  # per run; the next run continues where this one stopped


async def roll_up_stats(app: WorkerContext, batch: int = BATCH) -> int:
    """Returns how many events were counted."""
    lock = app.redis.lock(LOCK_KEY, timeout=LOCK_TTL)
    if not await lock.acquire(blocking=False):
        return 0
    total = 0
    try:
        for _ in range(MAX_BATCHES):
            async with app.sessions() as session:
                counted = await roll_up(session, batch)
                await session.commit()
            total += counted
            if counted < batch:
                break
    finally:
        with contextlib.suppress(LockError):  # expired mid-run: the work is committed anyway
            await lock.release()
    return total
