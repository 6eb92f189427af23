"""MX answers: preference order with random choice among equals, and the Redis cache that
replicas share (negative answers too)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis

from scaisend_core.dns import Resolver
from scaisend_smtp.outbound.mx import CACHE_PREFIX, MxResolver, NoRoute, Route
from tests.fixtures.dns import Zone


@pytest.fixture
async def resolver(dns_nameservers: list[str]) -> AsyncIterator[Resolver]:
    r = Resolver(dns_nameservers, timeout=1, tries=1)
    yield r
    await r.close()


def mx_resolver(resolver: Resolver, redis: ArqRedis, seed: int = 0, ttl: int = 300) -> MxResolver:
    return MxResolver(resolver, redis, ttl=ttl, negative_ttl=60, rng=random.Random(seed))


def equal_mx(zone: Zone) -> None:
    zone.mx("inbox.test", (10, "a.inbox.test"), (10, "b.inbox.test"), (5, "first.inbox.test"))
    for name, address in (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("first", "127.0.0.4")):
        zone.a(f"{name}.inbox.test", address)


async def test_lowest_preference_first_then_a_random_order_among_equals(
    resolver: Resolver, redis: ArqRedis, dns: Zone
) -> None:
    equal_mx(dns)
    orders = set()
    for seed in range(12):
        route = await mx_resolver(resolver, redis, seed).route("inbox.test")
        assert isinstance(route, Route)
        assert route.hosts[0].name == "first.inbox.test"
        orders.add(tuple(h.name for h in route.hosts[1:]))
    assert orders == {("a.inbox.test", "b.inbox.test"), ("b.inbox.test", "a.inbox.test")}


async def test_answers_are_cached_in_redis_for_other_replicas(
    resolver: Resolver, redis: ArqRedis, dns: Zone
) -> None:
    equal_mx(dns)
    await mx_resolver(resolver, redis).route("inbox.test")
    dns.clear()  # the DNS changes; the cached answer is used until it expires

    route = await mx_resolver(resolver, redis, seed=1).route("inbox.test")

    assert isinstance(route, Route)
    assert {h.name for h in route.hosts} == {"a.inbox.test", "b.inbox.test", "first.inbox.test"}
    assert 0 < await redis.ttl(CACHE_PREFIX + "inbox.test") <= 300


async def test_a_permanent_failure_is_cached_for_the_negative_ttl(
    resolver: Resolver, redis: ArqRedis, dns: Zone
) -> None:
    failure = await mx_resolver(resolver, redis).route("nowhere.test")
    assert isinstance(failure, NoRoute)
    assert failure.permanent
    assert 0 < await redis.ttl(CACHE_PREFIX + "nowhere.test") <= 60


async def test_a_temporary_failure_is_not_cached(redis: ArqRedis) -> None:
    from tests.fixtures.storage import free_port

    silent = Resolver([f"127.0.0.1:{free_port()}"], timeout=0.2, tries=1)
    try:
        failure = await mx_resolver(silent, redis).route("inbox.test")
    finally:
        await silent.close()
    assert isinstance(failure, NoRoute)
    assert (failure.permanent, failure.code) == (False, 451)
    assert not await redis.exists(CACHE_PREFIX + "inbox.test")
