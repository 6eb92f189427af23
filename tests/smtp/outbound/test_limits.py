"""Domain limits shared by replicas through Redis, and what a held message looks like."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.queue import DeliverMessage
from scaisend_smtp.outbound.context import Outbound
from scaisend_smtp.outbound.limits import (
    BACKOFF_PREFIX,
    CONCURRENCY_PREFIX,
    Busy,
    DomainLimits,
    Held,
    Lease,
)
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import Clock, DomainFixture, events_of, kinds, load, route, run


def limits(redis: ArqRedis, **kwargs: Any) -> DomainLimits:
    options: dict[str, Any] = {"concurrency": 1, "rate_per_minute": 100, "lease_seconds": 60,
                               "throttle_delay": 5, "max_wait": 0.05}  # fmt: skip
    return DomainLimits(redis, **{**options, **kwargs})


async def test_a_concurrency_slot_is_shared_across_replicas(redis: ArqRedis) -> None:
    one, other = limits(redis), limits(redis)

    lease = await one.acquire("inbox.test")
    busy = await other.acquire("inbox.test")
    assert isinstance(lease, Lease)
    await one.release(lease)
    after = await other.acquire("inbox.test")

    assert busy == Busy("inbox.test")
    assert isinstance(after, Lease)


async def test_a_busy_domain_is_held_once_waited_for_long_enough(redis: ArqRedis) -> None:
    one, other = limits(redis), limits(redis)
    assert isinstance(await one.acquire("inbox.test"), Lease)  # held by another replica

    waited: float | Held = 0.0
    turns = 0
    while not isinstance(waited, Held):
        assert isinstance(await other.acquire("inbox.test"), Busy)
        waited = await other.wait_turn("inbox.test", waited)
        turns += 1

    assert waited.retry_in == 5
    assert 1 < turns < 10  # the pauses double: a few asks, not one per WAIT_STEP


async def test_a_local_release_ends_the_wait_at_once(redis: ArqRedis) -> None:
    shared = limits(redis, max_wait=30)
    lease = await shared.acquire("inbox.test")
    assert isinstance(lease, Lease)
    assert isinstance(await shared.acquire("inbox.test"), Busy)

    waiting = asyncio.create_task(shared.wait_turn("inbox.test", 2.0))  # a 0.5 s pause
    await asyncio.sleep(0.01)
    await shared.release(lease)
    waited = await asyncio.wait_for(waiting, 0.2)

    assert isinstance(waited, float)
    assert waited < 2.2
    assert isinstance(await shared.acquire("inbox.test"), Lease)


async def test_a_lease_of_a_dead_replica_expires(redis: ArqRedis) -> None:
    now = [1_000_000.0]
    crashed = limits(redis, lease_seconds=30, clock=lambda: now[0])
    assert isinstance(await crashed.acquire("inbox.test"), Lease)  # never released
    now[0] += 31
    assert isinstance(await limits(redis, clock=lambda: now[0]).acquire("inbox.test"), Lease)


async def test_the_rate_limit_holds_until_the_next_minute(redis: ArqRedis) -> None:
    now = 60 * 1_000_000 + 15.0
    rated = limits(redis, concurrency=10, rate_per_minute=2, clock=lambda: now)
    first, second = await rated.acquire("inbox.test"), await rated.acquire("inbox.test")
    third = await rated.acquire("inbox.test")
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    assert isinstance(third, Held)
    assert third.retry_in == 46


async def test_requests_made_together_share_one_call_and_are_answered_in_turn(
    redis: ArqRedis,
) -> None:
    shared = limits(redis, concurrency=2)
    sizes: list[int] = []
    script = shared._acquire_script

    async def spy(keys: list[str], args: list[Any]) -> Any:
        sizes.append(int(args[2]))  # requests (after the releases and renewals)
        return await script(keys=keys, args=args)

    shared._acquire_script = spy  # type: ignore[assignment]
    await redis.set(BACKOFF_PREFIX + "mx2.inbox.test", "421 busy")
    hosts = ["mx1.inbox.test", "mx2.inbox.test"]

    got = await asyncio.gather(
        *(shared.acquire("inbox.test", hosts) for _ in range(3)), shared.acquire("other.test")
    )

    assert sizes[0] == 4  # one call for the four requests; the held one then asked alone
    first, second, third, other = got
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    assert first.backed_off == second.backed_off == frozenset({"mx2.inbox.test"})
    assert third == Busy("inbox.test")
    assert isinstance(other, Lease)
    assert other.backed_off == frozenset()
    await asyncio.gather(shared.release(first), shared.release(second), shared.release(other))
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0
    assert await redis.zcard(CONCURRENCY_PREFIX + "other.test") == 0


async def test_a_release_and_a_request_of_the_same_turn_share_one_call_release_first(
    redis: ArqRedis,
) -> None:
    shared = limits(redis)  # concurrency 1
    lease = await shared.acquire("inbox.test")
    assert isinstance(lease, Lease)
    calls: list[tuple[int, int]] = []
    script = shared._acquire_script

    async def spy(keys: list[str], args: list[Any]) -> Any:
        calls.append((int(args[0]), int(args[2])))
        return await script(keys=keys, args=args)

    shared._acquire_script = spy  # type: ignore[assignment]
    _, after = await asyncio.gather(shared.release(lease), shared.acquire("inbox.test"))

    assert calls == [(1, 1)]  # one release, one request, one round trip
    assert isinstance(after, Lease)
    assert await redis.zrange(CONCURRENCY_PREFIX + "inbox.test", 0, -1) == [after.token.encode()]


class TestHeldMessages:
    @pytest.fixture
    def smtp_overrides(self) -> dict[str, Any]:
        return {"smtp_domain_rate_per_minute": 1}

    async def test_a_rate_limited_message_waits_without_an_event_or_an_attempt(
        self, outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant,
        sender_domain: DomainFixture, rendered_factory: RenderedFactory,
        sessions: SessionFactory, redis: ArqRedis, clock: Clock,
    ) -> None:  # fmt: skip
        route(dns, "inbox.test", (10, mx[0].address))
        first = await rendered_factory(tenant, ["a@inbox.test"])
        second = await rendered_factory(tenant, ["b@inbox.test"])
        await run(outbound, first)

        summary = await run(outbound, second)

        assert summary == "attempt 1: nothing sent; 1 held"
        assert len(mx[0].received) == 1
        assert await events_of(sessions, second.id) == []
        stored, [recipient] = await load(sessions, second.id)
        assert (stored.status, recipient.status, recipient.attempts) == ("sending", "pending", 0)
        assert recipient.next_attempt_at is not None
        assert recipient.next_attempt_at > clock.value
        queued = [k.decode() for k in await redis.zrange("smtp:deliver", 0, -1)]
        assert queued == [DeliverMessage(message_id=second.id, attempt=1).job_id()]


class TestLeasesCoverConnectionsInUse:
    """A job queued for one of the host's pooled connections holds no domain lease: the
    domain's limit counts transactions in flight, shared with the other replicas."""

    @pytest.fixture
    def smtp_overrides(self) -> dict[str, Any]:
        return {"smtp_pool_size_per_domain": 1, "smtp_domain_concurrency": 2}

    async def test_a_job_queued_for_a_connection_leaves_the_domain_to_other_replicas(
        self, outbound: Outbound, mx: MxFleet, dns: Zone, tenant: Tenant,
        sender_domain: DomainFixture, rendered_factory: RenderedFactory,
        sessions: SessionFactory, redis: ArqRedis,
    ) -> None:  # fmt: skip
        route(dns, "inbox.test", (10, mx[0].address))
        in_data, go_on = threading.Event(), threading.Event()

        def slow_data() -> str:  # the MX takes its time over the first DATA
            in_data.set()
            go_on.wait(10)
            return "250 2.0.0 OK queued"

        mx[0].script.next_data = slow_data  # type: ignore[method-assign]
        first = await rendered_factory(tenant, ["a@inbox.test"])
        second = await rendered_factory(tenant, ["b@inbox.test"])
        both = asyncio.gather(run(outbound, first), run(outbound, second))
        try:
            assert await asyncio.to_thread(in_data.wait, 10)
            # One transaction is in flight, the other job waits for the only connection.
            in_flight = await redis.zcard(CONCURRENCY_PREFIX + "inbox.test")
            other_replica = await limits(redis, concurrency=2).acquire("inbox.test")
        finally:
            go_on.set()
            summaries = await both

        assert in_flight == 1
        assert isinstance(other_replica, Lease)
        assert summaries == ["attempt 1: 1 sent; 0 held"] * 2
        assert len(mx[0].received) == 2
        assert mx[0].connections == 1
        for message in (first, second):
            assert kinds(await events_of(sessions, message.id)) == ["delivered"]
