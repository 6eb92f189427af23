"""Postmaster safety rails shared by every SMTP replica through Redis: per recipient-domain
concurrency and rate limits, and per-MX-host back-off after a 421 or an unreachable host, so a
struggling receiver is not hammered by every message at once.

A lease stands for one transaction in flight: callers ask for it only once they hold a pooled
connection slot (transport.py), and a busy domain is waited for with nothing held."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from scaisend_smtp.outbound.batch import Batcher

CONCURRENCY_PREFIX = "smtp:conc:"
RATE_PREFIX = "smtp:rate:"
BACKOFF_PREFIX = "smtp:backoff:"
WAIT_STEP = 0.02  # first pause while a domain's transactions are all in flight
MAX_STEP = 0.5  # pauses double up to this (other replicas' releases are seen only by asking)
MAX_WAIT = 5.0  # then the recipients are held and retried later
MAX_BATCH = 256  # requests per script call

# A lease is a member of the domain's sorted set scored by its expiry, so a replica that dies
# holding one frees it after `lease_ms`. The rate window is a per-minute counter.
#
# One call answers every request made in the same turn of the event loop, one after another,
# exactly as separate calls would (a script runs alone), after the releases of that turn.
# ARGV[1] is the number of releases, ARGV[2] the number of requests. Each release has its
# domain's concurrency set in KEYS and its token in ARGV, first; then each request has six ARGV
# (now, lease ms, concurrency, token, rate limit, number of hosts) and its KEYS in order: the
# domain's concurrency set, its rate counter, a back-off key per host.
_ACQUIRE = """
local releases = tonumber(ARGV[1])
for i = 1, releases do redis.call('ZREM', KEYS[i], ARGV[2 + i]) end
local results = {}
local k, a = releases + 1, releases + 3
for r = 1, tonumber(ARGV[2]) do
  local now, lease_ms, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local token, rate_limit, hosts = ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local conc, rate = KEYS[k], KEYS[k + 1]
  local result
  local count = tonumber(redis.call('GET', rate) or '0')
  if count >= rate_limit then
    result = {-1}
  else
    redis.call('ZREMRANGEBYSCORE', conc, '-inf', now)
    if redis.call('ZCARD', conc) >= limit then
      result = {0}
    else
      redis.call('ZADD', conc, now + lease_ms, token)
      redis.call('PEXPIRE', conc, lease_ms)
      redis.call('INCR', rate)
      redis.call('EXPIRE', rate, 120)
      result = {1}
      for i = k + 2, k + 1 + hosts do result[#result + 1] = redis.call('EXISTS', KEYS[i]) end
    end
  end
  results[r] = result
  k, a = k + 2 + hosts, a + 6
end
return results
"""


@dataclass(frozen=True, slots=True)
class _Ask:
    """One acquire request: its keys and arguments in the script's layout."""

    keys: list[str]
    args: list[int | str]


@dataclass(frozen=True, slots=True)
class Lease:
    domain: str
    token: str
    backed_off: frozenset[str] = frozenset()  # of the hosts asked about, those to leave alone


@dataclass(frozen=True, slots=True)
class Busy:
    """The domain's transactions are all in flight; `DomainLimits.wait_turn` before asking
    again."""

    domain: str


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
        # Requests and releases of the same loop turn share a round trip (one script call);
        # nothing waits for company (linger 0), and a failed round trip is never repeated.
        self._calls: Batcher[_Ask | Lease, list[int] | None] = Batcher(
            "limits", self._call, max_batch=MAX_BATCH, linger=0, singly=False
        )
        self._released: dict[str, asyncio.Event] = {}  # domain -> set when a lease is released

    async def acquire(self, domain: str, hosts: Sequence[str] = ()) -> Lease | Busy | Held:
        """A transaction slot for the domain if one is free (Busy if not); a spent rate window
        holds until the next minute. The lease also says which of `hosts` are backed off (one
        round trip for both). Asks once, never waits: see `wait_turn`."""
        token = secrets.token_hex(8)
        now = self._clock()
        keys = [CONCURRENCY_PREFIX + domain, f"{RATE_PREFIX}{domain}:{int(now // 60)}"]
        keys += [BACKOFF_PREFIX + h for h in hosts]
        args: list[int | str] = [int(now * 1000), self._lease_ms, self._concurrency, token,
                                 self._rate, len(hosts)]  # fmt: skip
        reply = await self._calls.submit(_Ask(keys, args))
        assert reply is not None, "an ask is always answered"
        got = int(reply[0])
        if got == 1:
            flags = [int(f) for f in reply[1:]]
            return Lease(
                domain, token, frozenset(h for h, f in zip(hosts, flags, strict=True) if f)
            )
        if got == -1:
            return Held(
                domain, 60 - now % 60 + 1, f"{domain} reached {self._rate} messages per minute"
            )
        return Busy(domain)

    async def wait_turn(self, domain: str, waited: float) -> float | Held:
        """Pause after a Busy answer, having waited `waited` seconds so far: until a lease of
        this process on the domain is released, or the next step of a doubling poll (the only
        way to see other replicas' releases). Returns the new total, or Held once the total
        reached max_wait (the recipients are then retried after SMTP_THROTTLE_DELAY)."""
        if waited >= self._max_wait:
            reason = f"{domain} has {self._concurrency} deliveries in flight"
            return Held(domain, self._throttle_delay, reason)
        step = min(max(waited, WAIT_STEP), MAX_STEP)  # the total doubles with each pause
        released = self._released.setdefault(domain, asyncio.Event())
        start = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(step):
                await released.wait()
        return waited + max(time.monotonic() - start, WAIT_STEP / 4)

    async def release(self, lease: Lease) -> None:
        await self._calls.submit(lease)
        released = self._released.pop(lease.domain, None)
        if released is not None:  # local waiters ask again now, not at their next poll
            released.set()

    async def _call(self, items: list[_Ask | Lease]) -> list[list[int] | None]:
        releases = [item for item in items if isinstance(item, Lease)]
        asks = [item for item in items if isinstance(item, _Ask)]
        keys = [CONCURRENCY_PREFIX + lease.domain for lease in releases]
        keys += [key for ask in asks for key in ask.keys]
        args: list[int | str] = [len(releases), len(asks), *(lease.token for lease in releases)]
        args += [arg for ask in asks for arg in ask.args]
        replies: list[list[int]] = await self._acquire_script(keys=keys, args=args)
        answers = iter(replies)
        return [None if isinstance(item, Lease) else next(answers) for item in items]

    async def back_off(self, host: str, seconds: int, reason: str) -> None:
        if seconds > 0:
            await self._redis.set(BACKOFF_PREFIX + host, reason[:200], ex=seconds)
