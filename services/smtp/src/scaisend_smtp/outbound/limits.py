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
CREDITS = 8  # messages a lease may be passed on for between renewals

# A lease is a member of the domain's sorted set scored by its expiry, so a replica that dies
# holding one frees it after `lease_ms`. The rate window is a per-minute counter.
#
# A lease may carry credits: messages counted in advance in its minute's window, so that the
# lease can be passed to the next job of its domain in this process without a round trip
# (transport.py), each pass spending one. A renewal (batched, off the connection's critical path)
# pushes the lease's expiry out again and tops the credits up to CREDITS, after half of them or
# a quarter of the lease's time is spent; credits of a past minute are given back then, unspent
# ones on release. Credits are bought only below a ceiling that leaves room for every lease of
# the domain to hold CREDITS, so the limit is never exceeded (each message is counted before it
# is sent) and credits held elsewhere do not hold off a message near it.
#
# One call answers every request made in the same turn of the event loop, one after another,
# exactly as separate calls would (a script runs alone), after the releases and renewals of that
# turn. ARGV[1..3] count the releases, renewals and requests. Each release has KEYS (the
# domain's concurrency set, the rate counter of its credits) and ARGV (token, credits to give
# back); each renewal KEYS (concurrency set, rate counter of its credits, of the current minute)
# and ARGV (token, now, lease ms, credit ceiling, credits held, CREDITS); each request eight
# ARGV (now, lease ms, concurrency, token, rate limit, number of hosts, credit ceiling, CREDITS)
# and its KEYS: the concurrency set, the rate counter, a back-off key per host.
_ACQUIRE = """
local k, a = 1, 4
for i = 1, tonumber(ARGV[1]) do
  redis.call('ZREM', KEYS[k], ARGV[a])
  local unspent = tonumber(ARGV[a + 1])
  if unspent > 0 and redis.call('EXISTS', KEYS[k + 1]) == 1 then
    redis.call('DECRBY', KEYS[k + 1], unspent)
  end
  k, a = k + 2, a + 2
end
local results = {}
for i = 1, tonumber(ARGV[2]) do
  local conc, old, rate, token = KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a]
  local now, lease_ms, ceiling = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local held, want = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local bought = 0
  if redis.call('ZSCORE', conc, token) then
    redis.call('ZADD', conc, now + lease_ms, token)
    redis.call('PEXPIRE', conc, lease_ms)
    if old ~= rate then
      if held > 0 and redis.call('EXISTS', old) == 1 then redis.call('DECRBY', old, held) end
      held = 0
    end
    bought = math.max(0, math.min(want - held, ceiling - tonumber(redis.call('GET', rate) or '0')))
    if bought > 0 then
      redis.call('INCRBY', rate, bought)
      redis.call('EXPIRE', rate, 120)
    end
  end
  results[#results + 1] = {bought}
  k, a = k + 3, a + 6
end
for r = 1, tonumber(ARGV[3]) do
  local now, lease_ms, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local token, rate_limit, hosts = ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local ceiling = tonumber(ARGV[a + 6])
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
      local bought = math.max(0, math.min(tonumber(ARGV[a + 7]), ceiling - count - 1))
      redis.call('INCRBY', rate, 1 + bought)
      redis.call('EXPIRE', rate, 120)
      result = {1, bought}
      for i = k + 2, k + 1 + hosts do result[#result + 1] = redis.call('EXISTS', KEYS[i]) end
    end
  end
  results[#results + 1] = result
  k, a = k + 2 + hosts, a + 8
end
return results
"""


@dataclass(frozen=True, slots=True)
class _Ask:
    """One acquire request: its keys and arguments in the script's layout."""

    keys: list[str]
    args: list[int | str]


@dataclass(slots=True)
class Lease:
    domain: str
    token: str
    backed_off: frozenset[str] = frozenset()  # of the hosts asked about, those to leave alone
    window: int = 0  # the minute whose rate counter holds the credits
    credits: int = 0  # messages counted in advance: passes left without asking Redis
    since: float = 0.0  # when its expiry was last set (acquired or renewed)
    renewing: bool = False


@dataclass(frozen=True, slots=True)
class _Renewal:
    lease: Lease
    now: float
    held: int  # the lease's credits when asked


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
        self._calls: Batcher[_Ask | _Renewal | Lease, list[int] | None] = Batcher(
            "limits", self._call, max_batch=MAX_BATCH, linger=0, singly=False
        )
        self._released: dict[str, asyncio.Event] = {}  # domain -> set when a lease is released

    async def acquire(self, domain: str, hosts: Sequence[str] = ()) -> Lease | Busy | Held:
        """A transaction slot for the domain if one is free (Busy if not); a spent rate window
        holds until the next minute. The lease also says which of `hosts` are backed off (one
        round trip for both). Asks once, never waits: see `wait_turn`."""
        token = secrets.token_hex(8)
        now = self._clock()
        keys = [CONCURRENCY_PREFIX + domain, _rate_key(domain, int(now // 60))]
        keys += [BACKOFF_PREFIX + h for h in hosts]
        args: list[int | str] = [int(now * 1000), self._lease_ms, self._concurrency, token,
                                 self._rate, len(hosts), self._ceiling, CREDITS]  # fmt: skip
        reply = await self._calls.submit(_Ask(keys, args))
        assert reply is not None, "an ask is always answered"
        got = int(reply[0])
        if got == 1:
            flags = [int(f) for f in reply[2:]]
            backed_off = frozenset(h for h, f in zip(hosts, flags, strict=True) if f)
            return Lease(domain, token, backed_off, int(now // 60), int(reply[1]), now)
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

    @property
    def _ceiling(self) -> int:
        """Credits are bought only below this count, which leaves every lease room for its own."""
        return self._rate - self._concurrency * CREDITS

    def may_pass_on(self, lease: Lease) -> bool:
        """Whether the lease can go to the next job of its domain without asking Redis: it holds
        a credit for the current minute and at least half its time to expiry."""
        now = self._clock()
        fresh = now - lease.since < self._lease_ms / 2000
        return lease.credits > 0 and lease.window == int(now // 60) and fresh

    async def passed_on(self, lease: Lease) -> None:
        """The lease went to another job, spending a credit. Renew it (expiry, credits) once half
        its credits or a quarter of its time are spent; one batched round trip, made after the
        slot has changed hands, and one at a time."""
        lease.credits -= 1
        now = self._clock()
        due = lease.credits <= CREDITS // 2 or now - lease.since >= self._lease_ms / 4000
        if lease.renewing or not due:
            return
        lease.renewing = True
        try:
            reply = await self._calls.submit(_Renewal(lease, now, lease.credits))
        finally:
            lease.renewing = False
        assert reply is not None, "a renewal is always answered"
        window = int(now // 60)
        held = lease.credits if window == lease.window else 0  # the past minute's: given back
        lease.window, lease.credits, lease.since = window, held + int(reply[0]), now

    async def release(self, lease: Lease) -> None:
        """Free the lease and give its unspent credits back."""
        await self._calls.submit(lease)
        released = self._released.pop(lease.domain, None)
        if released is not None:  # local waiters ask again now, not at their next poll
            released.set()

    async def _call(self, items: list[_Ask | _Renewal | Lease]) -> list[list[int] | None]:
        releases = [item for item in items if isinstance(item, Lease)]
        renewals = [item for item in items if isinstance(item, _Renewal)]
        asks = [item for item in items if isinstance(item, _Ask)]
        keys: list[str] = []
        args: list[int | str] = [len(releases), len(renewals), len(asks)]
        for lease in releases:
            keys += [CONCURRENCY_PREFIX + lease.domain, _rate_key(lease.domain, lease.window)]
            args += [lease.token, lease.credits]
        for renewal in renewals:
            lease, now = renewal.lease, renewal.now
            keys += [CONCURRENCY_PREFIX + lease.domain, _rate_key(lease.domain, lease.window),
                     _rate_key(lease.domain, int(now // 60))]  # fmt: skip
            args += [lease.token, int(now * 1000), self._lease_ms, self._ceiling, renewal.held,
                     CREDITS]  # fmt: skip
        for ask in asks:
            keys += ask.keys
            args += ask.args
        replies: list[list[int]] = await self._acquire_script(keys=keys, args=args)
        answers = iter(replies)  # renewals' answers, then the asks'
        answered = {id(item): next(answers) for item in [*renewals, *asks]}
        return [answered.get(id(item)) for item in items]

    async def back_off(self, host: str, seconds: int, reason: str) -> None:
        if seconds > 0:
            await self._redis.set(BACKOFF_PREFIX + host, reason[:200], ex=seconds)


def _rate_key(domain: str, minute: int) -> str:
    return f"{RATE_PREFIX}{domain}:{minute}"
