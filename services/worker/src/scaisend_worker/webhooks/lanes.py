"""Per-endpoint delivery lanes. A lane keeps at most its cap of requests (or SendGrid batches) in
flight in this process, plus a short queue of claimed ones waiting for a slot (`prefetch`, so one
claim feeds many requests instead of one claim per finished request). It claims due deliveries
from MySQL, oldest first, only when that queue is about to run dry. A slow or dead endpoint
therefore fills its own lane and nothing else: arq job slots are never held waiting for it, and
the rows it cannot take yet simply stay due in the table."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
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
# Frees the unit's slot; a unit calls it once its request is answered (or not made), so the
# next request starts while this one's outcome is still being written.
Release = Callable[[], None]
# Makes one request's (or batch's) coroutine when a slot is free.
Unit = Callable[[Release], Coroutine[Any, Any, None]]
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
    def __init__(
        self, lanes: Lanes, endpoint_id: str, cap: int, starter: Starter, prefetch: int = 0
    ) -> None:
        self.endpoint_id = endpoint_id
        self.cap = cap
        self.prefetch = prefetch
        # Claim again once the queue is down to half the room: a claim takes several round
        # trips, and at a slot's worth of queue left the slots ran dry while it was under way.
        self.refill_below = max(cap, (cap + prefetch) // 2)
        self.in_flight = 0
        self.health = EndpointHealth()
        self.outcomes = OutcomeWriter(lanes.runtime, self)
        self._lanes = lanes
        self._starter = starter
        self._queued: deque[tuple[list[str], Unit]] = deque()
        self._more = False  # due rows may be waiting: a wake came, or the last claim was full
        self._claiming = False
        self._again = False

    @property
    def ahead(self) -> int:
        """Units in flight or queued: how many a newly claimed delivery waits behind."""
        return self.in_flight + len(self._queued)

    def wake(self) -> None:
        """Claim due work if there is room; called by jobs, the reconciler and finished units."""
        if self._lanes.stopping:
            return
        self._more = True
        if self._claiming:
            self._again = True  # the running claim loop goes round once more
            return
        self._claiming = True
        self._lanes.spawn(self._fill(), f"webhook-lane-{self.endpoint_id}")

    async def _fill(self) -> None:
        try:
            while not self._lanes.stopping:
                self._again = False
                free = self.cap + self.prefetch - self.ahead
                # With enough work still queued, wait: a finished unit wakes the lane again,
                # and the claim then fills more of the room at once.
                if free > 0 and len(self._queued) < self.refill_below:
                    self._more = await self._starter(self._lanes.runtime, self, free)
                if not self._again:
                    return
        except Exception:
            log.exception("claiming webhook deliveries for %s failed", self.endpoint_id)
        finally:
            self._claiming = False

    def start(self, delivery_ids: list[str], unit: Unit) -> None:
        """Run one request (or batch) in a free slot, or queue it for the next one."""
        if self.in_flight < self.cap and not self._lanes.stopping:
            self._launch(unit)
        else:
            self._queued.append((delivery_ids, unit))

    def _launch(self, unit: Unit) -> None:
        self.in_flight += 1
        self._lanes.spawn(self._run(unit), f"webhook-{self.endpoint_id}")

    async def _run(self, unit: Unit) -> None:
        """A slot is held while the request is in flight, not while its outcome is written: the
        cap bounds requests at the endpoint, and outcomes are group-committed meanwhile."""
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._free_slot()

        try:
            await unit(release)
        except Exception:
            # The rows stay leased and pending: the reconciler retries them after the lease.
            log.exception("webhook delivery to %s failed unexpectedly", self.endpoint_id)
        finally:
            release()

    def _free_slot(self) -> None:
        self.in_flight -= 1
        if self._queued and not self._lanes.stopping:
            self._launch(self._queued.popleft()[1])
        if self._more and len(self._queued) < self.refill_below:
            self.wake()

    def drop_queued(self) -> list[str]:
        """Forget the units still waiting for a slot; their delivery ids, to release."""
        ids = [delivery_id for delivery_ids, _ in self._queued for delivery_id in delivery_ids]
        self._queued.clear()
        return ids


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

    def _shape(self, kind: str) -> tuple[int, Starter, int]:
        # Imported here: the delivery modules import the runtime, which imports this module.
        from scaisend_worker.webhooks import scaisend, sendgrid

        options = self.runtime.options
        if kind == EndpointKind.SENDGRID:
            return options.sendgrid_concurrency, sendgrid.start_batches, 0
        cap = options.endpoint_concurrency
        return cap, scaisend.start_deliveries, cap * options.prefetch_rounds

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

    async def stop(self, timeout: float) -> list[str]:  # noqa: ASYNC109 (a drain budget, not an I/O timeout)
        """Finish what is in flight; returns the ids of claimed deliveries never started."""
        self.stopping = True
        pending = set(self._tasks)
        if pending and timeout > 0:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [i for lane in self._lanes.values() for i in lane.drop_queued()]
