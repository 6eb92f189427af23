"""Lane slots: a slot bounds the requests in flight at an endpoint, and is handed to the next
queued request as soon as the request is answered, while its outcome is still being written."""

from __future__ import annotations

import asyncio

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_worker.webhooks.lanes import Lane, Release
from scaisend_worker.webhooks.runtime import WebhookRuntime
from tests.worker.webhooks.support import FakeClock, webhook_runtime


async def never_claims(runtime: WebhookRuntime, lane: Lane, free: int) -> bool:
    return False


async def test_the_next_request_starts_while_the_previous_outcome_is_written(
    core_settings: CoreSettings, sessions: SessionFactory
) -> None:
    order: list[str] = []
    recorded = asyncio.Event()
    async with webhook_runtime(core_settings, sessions, FakeClock()) as runtime:
        lane = Lane(runtime.lanes, "wh_lane_test", 1, never_claims)

        async def first(release: Release) -> None:
            order.append("first answered")
            release()
            release()  # a second call frees nothing more
            await recorded.wait()  # the outcome write, still running
            order.append("first recorded")

        async def second(release: Release) -> None:
            order.append("second answered")
            recorded.set()

        async def third(release: Release) -> None:
            order.append("third answered")

        lane.start(["a"], first)
        lane.start(["b"], second)
        lane.start(["c"], third)
        assert (lane.in_flight, lane.ahead) == (1, 3)
        await runtime.lanes.idle()
        assert order[:2] == ["first answered", "second answered"]  # before "first recorded"
        assert sorted(order[2:]) == ["first recorded", "third answered"]
        assert (lane.in_flight, lane.ahead) == (0, 0)


async def test_a_unit_that_fails_before_its_answer_still_frees_its_slot(
    core_settings: CoreSettings, sessions: SessionFactory
) -> None:
    ran: list[str] = []
    async with webhook_runtime(core_settings, sessions, FakeClock()) as runtime:
        lane = Lane(runtime.lanes, "wh_lane_test", 1, never_claims)

        async def broken(release: Release) -> None:
            raise RuntimeError("boom")

        async def next_one(release: Release) -> None:
            ran.append("next")

        lane.start(["a"], broken)
        lane.start(["b"], next_one)
        await runtime.lanes.idle()
    assert ran == ["next"]
    assert lane.in_flight == 0


async def test_no_more_than_the_cap_is_in_flight(
    core_settings: CoreSettings, sessions: SessionFactory
) -> None:
    gate = asyncio.Event()
    peak = 0
    async with webhook_runtime(core_settings, sessions, FakeClock()) as runtime:
        lane = Lane(runtime.lanes, "wh_lane_test", 3, never_claims)

        async def request(release: Release) -> None:
            nonlocal peak
            peak = max(peak, lane.in_flight)
            await gate.wait()
            release()

        for n in range(10):
            lane.start([str(n)], request)
        await asyncio.sleep(0.01)
        assert (lane.in_flight, lane.ahead) == (3, 10)
        gate.set()
        await runtime.lanes.idle()
    assert peak == 3
