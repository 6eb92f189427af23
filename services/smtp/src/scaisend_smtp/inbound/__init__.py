"""Inbound mail: DSN bounces (RFC 3464) and ARF feedback reports (RFC 5965) on port 25.

`scaisend smtp` runs `run_inbound(settings, stop)`: the aiosmtpd listener, which stores what it
accepts and queues `ProcessInbound` on `smtp:inbound`, and the consumer of that queue, which
parses, correlates and records bounces, deferrals and spam reports. `INBOUND_FUNCTIONS` is the arq
function list of that consumer, for a process that runs its own worker on `smtp:inbound`; its jobs
expect `ctx["inbound"]` to hold an `InboundContext`."""

from scaisend_smtp.inbound.process import INBOUND_FUNCTIONS, InboundContext
from scaisend_smtp.inbound.server import run_inbound

__all__ = ["INBOUND_FUNCTIONS", "InboundContext", "run_inbound"]
