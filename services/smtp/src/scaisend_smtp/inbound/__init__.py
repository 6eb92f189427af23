"""Inbound mail: DSN bounces (RFC 3464) and ARF feedback reports (RFC 5965) on port 25.

`scaisend smtp` runs `run_inbound(settings, stop)`, the aiosmtpd listener, which stores what it
accepts and queues `ProcessInbound` on `smtp:inbound`, and an arq worker on that queue with
`INBOUND_FUNCTIONS`, which parses, correlates and records bounces, deferrals and spam reports,
and `inbound_crons()`, whose sweep re-queues stored messages whose jobs were lost.
The job reads `ctx["inbound"]` (an `InboundContext`), or builds it from the runner's ctx keys
`sessions`, `storage`, `verp` and `jobs_redis`."""

from scaisend_smtp.inbound.process import INBOUND_FUNCTIONS, InboundContext, inbound_crons
from scaisend_smtp.inbound.server import run_inbound

__all__ = ["INBOUND_FUNCTIONS", "InboundContext", "inbound_crons", "run_inbound"]
