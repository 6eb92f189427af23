"""Where mail for a domain goes: MX hosts in RFC 5321 §5.1 order (lowest preference first,
random among equals), the implicit MX (the domain's own A/AAAA) when there is no MX, and no
route at all for a null MX (RFC 7505) or a domain that does not exist. Answers, negative ones
included (for less time), are cached in Redis so replicas share them, and for a few seconds in
the process so a busy domain costs no round trip per message."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from scaisend_core.dns import DnsLookupError, Failure, MxRecord, Resolver

CACHE_PREFIX = "smtp:mx:"
LOCAL_TTL = 30.0
LOCAL_MAX_ENTRIES = 10_000


class MxHost(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    preference: int
    addresses: tuple[str, ...]


class Route(BaseModel):
    """Hosts to try, in order."""

    model_config = ConfigDict(frozen=True)

    domain: str
    hosts: tuple[MxHost, ...]
    implicit: bool = False


class NoRoute(BaseModel):
    """Why there is nowhere to deliver; `permanent` failures bounce, the others defer."""

    model_config = ConfigDict(frozen=True)

    domain: str
    permanent: bool
    code: int
    reply: str  # "<enhanced status> <text>", as an MX would say it


class CachedAnswer(BaseModel):
    route: Route | None = None
    failure: NoRoute | None = None


class MxResolver:
    def __init__(
        self,
        resolver: Resolver,
        redis: Redis,
        *,
        ttl: int,
        negative_ttl: int,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._redis = redis
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._rng = rng or random.Random()
        self._clock = clock
        self._local_ttl = min(float(ttl), LOCAL_TTL)
        self._local: dict[str, tuple[float, CachedAnswer]] = {}

    async def route(self, domain: str) -> Route | NoRoute:
        answer = self._remembered(domain) or await self._cached(domain)
        if answer is None:
            answer = await self._lookup(domain)
            await self._store(domain, answer)
        self._remember(domain, answer)
        if answer.route is not None:
            return self._ordered(answer.route)
        assert answer.failure is not None
        return answer.failure

    def _remembered(self, domain: str) -> CachedAnswer | None:
        entry = self._local.get(domain)
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def _remember(self, domain: str, answer: CachedAnswer) -> None:
        if self._local_ttl <= 0 or (answer.failure is not None and not answer.failure.permanent):
            return
        if len(self._local) >= LOCAL_MAX_ENTRIES:
            self._local.clear()
        self._local[domain] = (self._clock() + self._local_ttl, answer)

    async def _cached(self, domain: str) -> CachedAnswer | None:
        raw = await self._redis.get(CACHE_PREFIX + domain)
        return CachedAnswer.model_validate_json(raw) if raw else None

    async def _store(self, domain: str, answer: CachedAnswer) -> None:
        if answer.failure is not None and not answer.failure.permanent:
            return  # a timeout says nothing about the domain; ask again next time
        ttl = self._ttl if answer.route else self._negative_ttl
        if ttl > 0:
            await self._redis.set(CACHE_PREFIX + domain, answer.model_dump_json(), ex=ttl)

    async def _lookup(self, domain: str) -> CachedAnswer:
        try:
            records = await self._resolver.mx(domain)
        except DnsLookupError as exc:
            if exc.failure == Failure.NODATA:
                return await self._implicit(domain)
            return CachedAnswer(failure=_lookup_failure(domain, exc))
        exchanges = [r for r in records if r.exchange]
        if not exchanges:  # "0 ." alone: the domain accepts no mail (RFC 7505 §3)
            reply = f"5.1.10 Recipient domain {domain} has a null MX and accepts no mail"
            return CachedAnswer(
                failure=NoRoute(domain=domain, permanent=True, code=556, reply=reply)
            )
        hosts = await self._hosts(exchanges)
        if not hosts:
            reply = f"4.4.4 No address found for any MX host of {domain}"
            return CachedAnswer(
                failure=NoRoute(domain=domain, permanent=False, code=451, reply=reply)
            )
        return CachedAnswer(route=Route(domain=domain, hosts=tuple(hosts)))

    async def _hosts(self, records: list[MxRecord]) -> list[MxHost]:
        lookups = [self._resolver.addresses(r.exchange) for r in records]
        found = await asyncio.gather(*lookups, return_exceptions=True)
        hosts = []
        for record, addresses in zip(records, found, strict=True):
            if isinstance(addresses, DnsLookupError):
                continue  # try the other hosts; none at all is handled by the caller
            if isinstance(addresses, BaseException):
                raise addresses
            hosts.append(MxHost(name=record.exchange, preference=record.preference,
                                addresses=tuple(addresses)))  # fmt: skip
        return hosts

    async def _implicit(self, domain: str) -> CachedAnswer:
        """No MX: the domain itself is the host (RFC 5321 §5.1)."""
        try:
            addresses = await self._resolver.addresses(domain)
        except DnsLookupError as exc:
            if exc.permanent:
                reply = f"5.1.2 Recipient domain {domain} has no MX or address records"
                failure = NoRoute(domain=domain, permanent=True, code=550, reply=reply)
                return CachedAnswer(failure=failure)
            return CachedAnswer(failure=_lookup_failure(domain, exc))
        host = MxHost(name=domain, preference=0, addresses=tuple(addresses))
        return CachedAnswer(route=Route(domain=domain, hosts=(host,), implicit=True))

    def _ordered(self, route: Route) -> Route:
        """Lowest preference first; equal preferences in random order, to spread load."""
        keyed = sorted(route.hosts, key=lambda h: (h.preference, self._rng.random()))
        return route.model_copy(update={"hosts": tuple(keyed)})


def _lookup_failure(domain: str, exc: DnsLookupError) -> NoRoute:
    if exc.failure == Failure.NXDOMAIN:
        reply = f"5.1.2 Recipient domain {domain} does not exist (NXDOMAIN)"
        return NoRoute(domain=domain, permanent=True, code=550, reply=reply)
    reply = f"4.4.3 DNS lookup for {domain} failed: {exc.detail}"
    return NoRoute(domain=domain, permanent=False, code=451, reply=reply)
