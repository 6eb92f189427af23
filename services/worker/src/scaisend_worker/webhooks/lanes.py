"""Per-endpoint delivery lanes. A lane keeps at most its cap of requests (or SendGrid batches) in
flight in this process and claims due deliveries from MySQL, oldest first, only when it has a
free slot. A slow or dead endpoint therefore fills its own lane and nothing else: arq job slots
are never held waiting for it, and the rows it cannot take yet simply stay due in the table."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from scaisend_core.models import EndpointKind, WebhookEndpoint
from scaisend_worker.webhooks.recording import OutcomeWriter

if TYPE_CHECKING:
    from scaisend_worker.webhooks.runtime import WebhookRuntime

log = logging.getLogger(__name__)

# Claims up to `free` units for a lane; True when it filled them all (more may be due).
Starter = Callable[["WebhookRuntime", "Lane", int], Awaitable[bool]]
SUCCESS_WRITE_INTERVAL = timedelta(seconds=1)


class EndpointHealth:
    """Spares the endpoint row a write per success: a success is written when it resets a
    failure count, else at most once a second (last_success_at is informational)."""

    def __init__(self) -> None:
        self.needs_reset = False
        self._last_write: datetime | None = None

    def observe(self, endpoint: WebhookEndpoint) -> None:
        if endpoint.failure_count:
            self.needs_reset = True

    def failed(self) -> None:
        self.needs_reset = True

    def should_write_success(self, now: datetime) -> bool:
        due = self._last_write is None or now - self._last_write >= SUCCESS_WRITE_INTERVAL
        if self.needs_reset or due:
            self.needs_reset = False
            self._last_write = now
            return True
        return False


class Lane:
    def __init__(self, lanes: Lanes, endpoint_id: str, cap: int, starter: Starter) -> None:
        self.endpoint_id = endpoint_id
        self.cap = cap
        self.in_flight = 0
        self.health = EndpointHealth()
        self.outcomes = OutcomeWriter(lanes.runtime, self)
        self._lanes = lanes
        self._starter = starter
        self._backlog = False  # the last claim filled every free slot
        self._claiming = False
        self._again = False

    def wake(self) -> None:
        """Claim due work if a slot is free; called by jobs, the reconciler and finished units."""
        if self._lanes.stopping:
            return
        if self._claiming:
            self._again = True  # the running claim loop goes round once more
            return
        self._claiming = True
        self._lanes.spawn(self._fill(), f"webhook-lane-{self.endpoint_id}")

    async def _fill(self) -> None:
        try:
            while not self._lanes.stopping:
                self._again = False
                free = self.cap - self.in_flight
                if free > 0:
                    self._backlog = await self._starter(self._lanes.runtime, self, free)
                if not self._again:
                    return
        except Exception:
            log.exception("claiming webhook deliveries for %s failed", self.endpoint_id)
        finally:
            self._claiming = False

    def start(self, unit: Coroutine[Any, Any, None]) -> None:
        """Run one request (or batch) in this lane's slot."""
        self.in_flight += 1
        self._lanes.spawn(self._run(unit), f"webhook-{self.endpoint_id}")

    async def _run(self, unit: Coroutine[Any, Any, None]) -> None:
        try:
            await unit
        except Exception:
            # The rows stay leased and pending: the reconciler retries them after the lease.
            log.exception("webhook delivery to %s failed unexpectedly", self.endpoint_id)
        finally:
            self.in_flight -= 1
            if self._backlog:
                self.wake()


class Lanes:
    """Every lane of this process, and every task they run (so shutdown can drain them)."""

    def __init__(self, runtime: WebhookRuntime) -> None:
        self.runtime = runtime
        self.stopping = False
        self._lanes: dict[str, Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def lane(self, endpoint_id: str, kind: str) -> Lane:
        lane = self._lanes.get(endpoint_id)
        if lane is None:
            lane = Lane(self, endpoint_id, *self._shape(kind))
            self._lanes[endpoint_id] = lane
        return lane

    def _shape(self, kind: str) -> tuple[int, Starter]:
        # Imported here: the delivery modules import the runtime, which imports this module.
        from scaisend_worker.webhooks import scaisend, sendgrid

        options = self.runtime.options
        if kind == EndpointKind.SENDGRID:
            return options.sendgrid_concurrency, sendgrid.start_batches
        return options.endpoint_concurrency, scaisend.start_deliveries

    def wake(self, endpoint_id: str, kind: str) -> None:
        self.lane(endpoint_id, kind).wake()

    def wake_existing(self, endpoint_id: str) -> bool:
        """Wake the endpoint's lane if this process has one (its kind is known then)."""
        lane = self._lanes.get(endpoint_id)
        if lane is not None:
            lane.wake()
        return lane is not None

    def in_flight(self, endpoint_id: str) -> int:
        lane = self._lanes.get(endpoint_id)
        return lane.in_flight if lane is not None else 0

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no claim or request is running (tests and the benchmark use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 (a drain budget, not an I/O timeout)
        self.stopping = True
        pending = set(self._tasks)
        if pending and timeout > 0:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
