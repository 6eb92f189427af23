"""Postmaster safety rails shared by every SMTP replica through Redis: per recipient-domain
concurrency and rate limits, and per-MX-host back-off after a 421 or an unreachable host, so a
struggling receiver is not hammered by every message at once."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

CONCURRENCY_PREFIX = "smtp:conc:"
RATE_PREFIX = "smtp:rate:"
BACKOFF_PREFIX = "smtp:backoff:"
WAIT_STEP = 0.02  # first pause while a domain's transactions are all in flight
MAX_WAIT = 5.0  # then the recipients are held and retried later

# A lease is a member of the domain's sorted set scored by its expiry, so a replica that dies
# holding one frees it after `lease_ms`. The rate window is a per-minute counter.
_ACQUIRE = """
local now, lease_ms, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate_limit = tonumber(ARGV[5])
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
if count >= rate_limit then return {-1} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return {0} end
redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[4])
redis.call('PEXPIRE', KEYS[1], lease_ms)
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 120)
local result = {1}
for i = 3, #KEYS do result[#result + 1] = redis.call('EXISTS', KEYS[i]) end
return result
"""


@dataclass(frozen=True, slots=True)
class Lease:
    domain: str
    token: str
    backed_off: frozenset[str] = frozenset()  # of the hosts asked about, those to leave alone


@dataclass(frozen=True, slots=True)
class Held:
    """The domain is at its limit; try again after `retry_in` seconds."""

    domain: str
    retry_in: float
    reason: str


class DomainLimits:
    def __init__(
        self,
        redis: Redis,
        *,
        concurrency: int,
        rate_per_minute: int,
        lease_seconds: float,
        throttle_delay: float,
        clock: Callable[[], float] = time.time,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self._redis = redis
        self._concurrency = concurrency
        self._rate = rate_per_minute
        self._lease_ms = int(lease_seconds * 1000)
        self._throttle_delay = throttle_delay
        self._clock = clock
        self._max_wait = max_wait
        self._acquire_script = redis.register_script(_ACQUIRE)

    async def acquire(self, domain: str, hosts: Sequence[str] = ()) -> Lease | Held:
        """A transaction slot for the domain, waiting briefly while its slots are all busy; a
        spent rate window holds at once until the next minute. The lease also says which of
        `hosts` are backed off (one round trip for both)."""
        token = secrets.token_hex(8)
        waited, step = 0.0, WAIT_STEP
        while True:
            now = self._clock()
            minute = int(now // 60)
            keys = [CONCURRENCY_PREFIX + domain, f"{RATE_PREFIX}{domain}:{minute}"]
            keys += [BACKOFF_PREFIX + h for h in hosts]
            args: list[int | str] = [
                int(now * 1000),
                self._lease_ms,
                self._concurrency,
                token,
                self._rate,
            ]
            reply = await self._acquire_script(keys=keys, args=args)
            got = int(reply[0])
            if got == 1:
                flags = [int(f) for f in reply[1:]]
                return Lease(
                    domain, token, frozenset(h for h, f in zip(hosts, flags, strict=True) if f)
                )
            if got == -1:
                reason = f"{domain} reached {self._rate} messages per minute"
                return Held(domain, 60 - now % 60 + 1, reason)
            if waited >= self._max_wait:
                reason = f"{domain} has {self._concurrency} deliveries in flight"
                return Held(domain, self._throttle_delay, reason)
            await asyncio.sleep(step)
            waited += step
            step = min(step * 2, 0.5)

    async def release(self, lease: Lease) -> None:
        await self._redis.zrem(CONCURRENCY_PREFIX + lease.domain, lease.token)

    async def back_off(self, host: str, seconds: int, reason: str) -> None:
        if seconds > 0:
            await self._redis.set(BACKOFF_PREFIX + host, reason[:200], ex=seconds)
