"""The worker's cron jobs: scheduled sends every 10 s, the reconciler and the stats roll-up
every minute, the sender-domain DNS re-check every 10 minutes, retention hourly. arq gives each tick a unique job id, so with many workers a
tick still runs once."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron

from scaisend_worker.context import from_ctx
from scaisend_worker.domains import recheck
from scaisend_worker.reconcile import reconcile
from scaisend_worker.retention import clean_expired
from scaisend_worker.schedules import enqueue_due
from scaisend_worker.stats import roll_up_stats


async def scheduled_sends(ctx: dict[str, Any]) -> str:
    sweep = await enqueue_due(from_ctx(ctx))
    return f"due={sweep.enqueued} cancelled={sweep.cancelled} expired={sweep.expired}"


async def reconcile_messages(ctx: dict[str, Any]) -> str:
    sweep = await reconcile(from_ctx(ctx))
    return (
        f"queued={sweep.queued} processing={sweep.processing} rendered={sweep.rendered} "
        f"sending={sweep.sending} re-enqueued={sweep.enqueued}"
    )


async def roll_up_daily_stats(ctx: dict[str, Any]) -> int:
    return await roll_up_stats(from_ctx(ctx))


async def delete_expired_bodies(ctx: dict[str, Any]) -> int:
    return await clean_expired(from_ctx(ctx))


async def recheck_sender_domains(ctx: dict[str, Any]) -> int:
    return await recheck(from_ctx(ctx))


RECHECK_MINUTES = set(range(3, 60, 10))

CRON_JOBS: list[CronJob] = [
    cron(scheduled_sends, second={0, 10, 20, 30, 40, 50}, keep_result=0, timeout=60),
    cron(reconcile_messages, second=30, keep_result=0, timeout=120),
    cron(roll_up_daily_stats, second=45, keep_result=0, timeout=300),
    cron(recheck_sender_domains, minute=RECHECK_MINUTES, second=15, keep_result=0, timeout=600),
    cron(delete_expired_bodies, minute=17, second=5, keep_result=0, timeout=900),
]
