"""A finished transaction hands its pooled slot and its domain lease to the next job of the same
domain in the process, without asking Redis; the domain's limits stay shared with the other
replicas."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import ArqRedis

from scaisend_smtp.outbound.limits import CONCURRENCY_PREFIX, RATE_PREFIX, Busy, Lease
from scaisend_smtp.outbound.pool import (
    ConnectFailure,
    ConnectOptions,
    Connector,
    PoolLimits,
    Pools,
    Slot,
)
from scaisend_smtp.outbound.transport import Place, leased
from tests.smtp.outbound.test_limits import limits

PLACE = Place("mx1.inbox.test", 25, "inbox.test", ["mx1.inbox.test"])


def pools(size: int) -> Pools:
    options = ConnectOptions("out.test", connect_timeout=1, command_timeout=1)
    return Pools(Connector(options), PoolLimits(size, idle_timeout=60, max_transactions=100,
                                                probe_after=30))  # fmt: skip


class InFlight:
    """Transactions under way at once, across replicas; each is its own job."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.done: list[str] = []

    async def transaction(self, name: str) -> list[str]:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.003)
        self.now -= 1
        self.done.append(name)
        return [name]

    def work(self, name: str) -> Any:
        async def work(slot: Slot) -> list[str]:
            return await self.transaction(name)

        return work


def count_requests(shared: Any) -> list[int]:
    """Lease requests per script call (releases and renewals not counted)."""
    requests: list[int] = []
    script = shared._acquire_script

    async def spy(keys: list[str], args: list[Any]) -> Any:
        requests.append(int(args[2]))
        return await script(keys=keys, args=args)

    shared._acquire_script = spy
    return requests


def count_passes(shared: Any) -> list[Lease]:
    passes: list[Lease] = []
    passed_on = shared.passed_on

    async def spy(lease: Lease) -> None:
        passes.append(lease)
        await passed_on(lease)

    shared.passed_on = spy
    return passes


async def rate_count(redis: ArqRedis) -> int:
    keys = await redis.keys(RATE_PREFIX + "inbox.test:*")
    return sum([int(await redis.get(key) or 0) for key in keys])


async def test_the_next_job_of_the_domain_gets_the_lease_without_asking_redis(
    redis: ArqRedis,
) -> None:
    shared, pool, flight = limits(redis, max_wait=30), pools(size=1), InFlight()
    requests = count_requests(shared)

    results = await asyncio.gather(
        *(leased(pool, shared, PLACE, flight.work(f"m{n}")) for n in range(6))
    )

    assert results == [[f"m{n}"] for n in range(6)]
    assert sum(requests) == 1  # one lease, passed on five times
    assert flight.most == 1
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0
    assert await rate_count(redis) == 6  # each message counted once, unspent credits given back


async def test_a_job_of_another_domain_waits_its_turn_for_the_slot(redis: ArqRedis) -> None:
    shared, pool, flight = limits(redis, max_wait=30), pools(size=1), InFlight()
    other = Place(PLACE.host, PLACE.port, "other.test", PLACE.hosts)
    first = asyncio.create_task(leased(pool, shared, PLACE, flight.work("a1")))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(leased(pool, shared, other, flight.work("b1")))]
    await asyncio.sleep(0)
    queued.append(asyncio.create_task(leased(pool, shared, PLACE, flight.work("a2"))))

    await asyncio.gather(first, *queued)

    assert flight.done == ["a1", "a2", "b1"]  # a2 took a1's lease; b1 was passed over once


async def test_two_replicas_never_exceed_the_domain_concurrency(redis: ArqRedis) -> None:
    flight = InFlight()
    replicas = [(limits(redis, concurrency=2, max_wait=30), pools(size=3)) for _ in range(2)]
    passes = [count_passes(shared) for shared, _ in replicas]

    await asyncio.gather(*(
        leased(pool, shared, PLACE, flight.work(f"r{r}m{n}"))
        for n in range(30) for r, (shared, pool) in enumerate(replicas)
    ))  # fmt: skip

    assert len(flight.done) == 60
    assert flight.most == 2
    assert sum(map(len, passes)) >= 10  # leases were passed on, in both replicas
    assert all(passes)
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0
    assert await rate_count(redis) == 60


async def test_a_lease_passed_on_then_lost_with_its_replica_expires(redis: ArqRedis) -> None:
    now = [1_000_000.0]
    crashed = limits(redis, lease_seconds=30, clock=lambda: now[0])
    other = limits(redis, clock=lambda: now[0])
    lease = await crashed.acquire("inbox.test")
    assert isinstance(lease, Lease)
    now[0] += 10
    assert crashed.may_pass_on(lease)
    await crashed.passed_on(lease)  # a third of its time spent: renewed, expires at +40

    now[0] += 25  # past the first expiry, not the renewed one
    assert await other.acquire("inbox.test") == Busy("inbox.test")
    now[0] += 6  # the replica died without passing it on or releasing it
    assert isinstance(await other.acquire("inbox.test"), Lease)


async def test_a_lease_is_passed_on_only_for_the_messages_counted_in_advance(
    redis: ArqRedis,
) -> None:
    now = 60 * 1_000_000 + 1.0
    shared = limits(redis, concurrency=1, rate_per_minute=12, clock=lambda: now)
    lease = await shared.acquire("inbox.test")
    assert isinstance(lease, Lease)

    passes = 0
    while shared.may_pass_on(lease):
        await shared.passed_on(lease)
        passes += 1

    # 12 a minute, less room for the lease's 8 credits: 1 + 3 counted at first, none renewed
    assert passes == 3
    assert await rate_count(redis) == 4


async def test_a_job_cancelled_as_it_is_handed_the_lease_gives_slot_and_lease_back(
    redis: ArqRedis,
) -> None:
    shared, pool, flight = limits(redis, max_wait=30), pools(size=1), InFlight()
    passes = count_passes(shared)
    queued: list[asyncio.Task[Any]] = []

    async def first(slot: Slot) -> list[str]:
        done = await flight.transaction("first")
        # the queued job is cancelled once handed the slot and the lease, before it runs again
        asyncio.get_running_loop().call_soon(queued[0].cancel)
        return done

    running = asyncio.create_task(leased(pool, shared, PLACE, first))
    await asyncio.sleep(0)
    queued.append(asyncio.create_task(leased(pool, shared, PLACE, flight.work("cancelled"))))
    await asyncio.gather(running, *queued, return_exceptions=True)
    await asyncio.sleep(0.05)  # the dropped lease's release

    assert queued[0].cancelled()
    assert len(passes) == 1  # it was handed the lease
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0
    after = await asyncio.wait_for(leased(pool, shared, PLACE, flight.work("after")), 1)
    assert after == ["after"]
    assert flight.done == ["first", "after"]


async def test_a_lease_out_of_credits_is_not_passed_on_by_the_job_that_inherited_it(
    redis: ArqRedis,
) -> None:
    now = 60 * 1_000_000 + 1.0
    shared, pool, flight = limits(redis, rate_per_minute=12, max_wait=30, clock=lambda: now), \
        pools(size=1), InFlight()  # fmt: skip
    requests = count_requests(shared)

    await asyncio.gather(*(leased(pool, shared, PLACE, flight.work(f"m{n}")) for n in range(6)))

    # 1 + 3 credits on the first lease, then a request for each of the two other messages
    assert sum(requests) == 3
    assert await rate_count(redis) == 6  # every message counted before it was sent
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0


async def test_a_lease_is_not_passed_on_after_a_failed_connection(redis: ArqRedis) -> None:
    shared, pool, flight = limits(redis, max_wait=30), pools(size=1), InFlight()
    requests = count_requests(shared)

    async def unreachable(slot: Slot) -> ConnectFailure:
        await asyncio.sleep(0.003)
        return ConnectFailure(PLACE.host, 421, "4.4.1 Connection refused", backoff=True)

    works = [flight.work("m0"), unreachable, flight.work("m2")]
    results = await asyncio.gather(*(leased(pool, shared, PLACE, work) for work in works))

    assert isinstance(results[1], ConnectFailure)
    assert results[2] == ["m2"]
    assert sum(requests) == 2  # the job after the failure asked Redis again
    assert await rate_count(redis) == 3  # the unspent credits given back on release
    assert await redis.zcard(CONCURRENCY_PREFIX + "inbox.test") == 0
