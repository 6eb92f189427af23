"""Lane slots: a slot bounds the requests in flight at an endpoint, and is handed to the next
queued request as soon as the request is answered, while its outcome is still being written."""

from __future__ import annotations

import asyncio
from functools import partial

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


async def test_a_lane_claims_again_once_its_queue_is_down_to_half_the_room(
    core_settings: CoreSettings, sessions: SessionFactory
) -> None:
    """cap 10 + prefetch 40: the first claim fills 50 (10 sent, 40 queued); the next claim
    comes when 24 are left queued, while the slots still have plenty of work."""
    answers = [asyncio.Event() for _ in range(50)]
    claims: list[tuple[int, int]] = []  # (queued, free) when each claim ran

    async with webhook_runtime(core_settings, sessions, FakeClock()) as runtime:

        async def starter(runtime: WebhookRuntime, lane: Lane, free: int) -> bool:
            claims.append((lane.ahead - lane.in_flight, free))
            if len(claims) > 1:
                return False
            for n in range(free):
                lane.start([str(n)], partial(request, answers[n]))
            return True  # full: more may be due

        async def request(answer: asyncio.Event, release: Release) -> None:
            await answer.wait()

        lane = Lane(runtime.lanes, "wh_lane_test", 10, starter, prefetch=40)
        assert lane.refill_below == 25
        lane.wake()
        await asyncio.sleep(0.01)
        assert claims == [(0, 50)]
        for answered in range(16):
            answers[answered].set()
            await asyncio.sleep(0.01)
            assert len(claims) == (1 if answered < 15 else 2)
        assert claims[1] == (24, 16)
        for answer in answers:
            answer.set()
        await runtime.lanes.idle()
