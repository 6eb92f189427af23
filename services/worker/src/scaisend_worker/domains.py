"""The periodic sender-domain re-check (issue 4 §3): domains not verified for
DOMAIN_RECHECK_HOURS are verified again with the same function as the API's /verify. A record
removed from DNS unverifies its domain (live sends then get 403), a rotated key whose record
appeared takes over signing, without anyone pressing "verify"."""

from __future__ import annotations

from datetime import datetime, timedelta

from scaisend_core.dns import open_resolver
from scaisend_core.domain_verification import DnsPolicy, recheck_domains
from scaisend_worker.context import WorkerContext

SWEEP_LIMIT = 200  # a tick's work; the rest are the oldest next tick


async def recheck(app: WorkerContext, now: datetime | None = None) -> int:
    """One sweep; returns how many domains were checked. None in capture mode (`scaisend up`):
    nothing leaves the machine there, DNS queries included, and no delivery depends on the
    records; the sweep resumes once SMTP_DELIVERY is mx or smarthost."""
    if app.settings.smtp_delivery == "capture":
        return 0
    async with open_resolver(app.settings) as resolver:
        return await recheck_domains(
            app.sessions,
            resolver,
            DnsPolicy.from_settings(app.settings),
            older_than=timedelta(hours=app.settings.domain_recheck_hours),
            limit=SWEEP_LIMIT,
            now=now or app.clock(),
        )
