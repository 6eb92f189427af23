"""What an outbound SMTP process holds open for its deliveries (database, Redis, storage, DNS,
connection pools, limits, signing keys), built once at startup and handed to every job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from arq.connections import ArqRedis

from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory, create_engine, create_session_factory
from scaisend_core.dns import Resolver
from scaisend_core.models import utcnow
from scaisend_core.queue.connection import create_arq_pool
from scaisend_core.signing import SigningKeys
from scaisend_core.storage import Storage, open_storage
from scaisend_core.verp import Verp
from scaisend_smtp.outbound.claims import Claimer
from scaisend_smtp.outbound.domains import SenderDomains
from scaisend_smtp.outbound.limits import DomainLimits
from scaisend_smtp.outbound.mx import MxResolver
from scaisend_smtp.outbound.pool import ConnectOptions, Connector, PoolLimits, Pools
from scaisend_smtp.outbound.recorder import Recorder
from scaisend_smtp.settings import SmtpSettings

SMTPS_PORT = 465


@dataclass(slots=True)
class Outbound:
    settings: SmtpSettings
    sessions: SessionFactory
    redis: ArqRedis
    storage: Storage
    secrets: SecretBox
    mx: MxResolver
    pools: Pools
    smarthost_pools: Pools
    limits: DomainLimits
    keys: SigningKeys
    verp: Verp
    recorder: Recorder
    claimer: Claimer
    now: Callable[[], datetime] = utcnow


def connect_options(settings: SmtpSettings) -> ConnectOptions:
    return ConnectOptions(
        ehlo_hostname=settings.ehlo_hostname,
        connect_timeout=settings.smtp_connect_timeout,
        command_timeout=settings.smtp_command_timeout,
        require_tls=settings.smtp_require_tls,
        verify_tls=settings.smtp_verify_tls,
    )


def smarthost_options(settings: SmtpSettings) -> ConnectOptions:
    """Relay options: TLS as SMTP_SMARTHOST_TLS says (required unless `none`), and AUTH."""
    mode = settings.smtp_smarthost_tls
    password = settings.smtp_smarthost_password
    return ConnectOptions(
        ehlo_hostname=settings.ehlo_hostname,
        connect_timeout=settings.smtp_connect_timeout,
        command_timeout=settings.smtp_command_timeout,
        require_tls=mode == "starttls",
        verify_tls=settings.smtp_verify_tls,
        implicit_tls=mode == "tls",
        starttls=mode == "starttls",
        username=settings.smtp_smarthost_username,
        password=password.get_secret_value() if password else None,
    )


def smarthost_address(settings: SmtpSettings) -> tuple[str, int]:
    host, _, port = (settings.smtp_smarthost or "").rpartition(":")
    if not host:  # no port given
        default = SMTPS_PORT if settings.smtp_smarthost_tls == "tls" else 587
        return settings.smtp_smarthost or "", default
    return host.strip("[]"), int(port)


@asynccontextmanager
async def open_outbound(
    settings: SmtpSettings, *, now: Callable[[], datetime] = utcnow
) -> AsyncIterator[Outbound]:
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        redis = await create_arq_pool(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        storage = await stack.enter_async_context(open_storage(settings))
        resolver = Resolver.from_settings(settings)
        stack.push_async_callback(resolver.close)
        pools = _pools(settings, connect_options(settings))
        smarthost_pools = _pools(settings, smarthost_options(settings))
        stack.push_async_callback(pools.close_all)
        stack.push_async_callback(smarthost_pools.close_all)
        secrets = SecretBox(
            settings.secret_key.get_secret_value(),
            [s.get_secret_value() for s in settings.secret_key_previous],
        )
        sessions = create_session_factory(engine)
        domains = SenderDomains(
            secrets, settings.smtp_delivery == "capture", ttl=settings.smtp_sender_domain_cache_ttl
        )
        claimer, recorder = Claimer(sessions, domains, now), Recorder(sessions, redis)
        stack.push_async_callback(claimer.close)  # these run before the engine is disposed
        stack.push_async_callback(recorder.close)
        yield Outbound(
            settings=settings, sessions=sessions, redis=redis, storage=storage, secrets=secrets,
            mx=MxResolver(resolver, redis, ttl=settings.mx_cache_ttl,
                          negative_ttl=settings.mx_negative_cache_ttl),
            pools=pools, smarthost_pools=smarthost_pools, limits=_limits(settings, redis, now),
            keys=SigningKeys(secrets), verp=Verp(settings.secret_key.get_secret_value()),
            recorder=recorder, claimer=claimer, now=now,
        )  # fmt: skip


def _limits(settings: SmtpSettings, redis: ArqRedis, now: Callable[[], datetime]) -> DomainLimits:
    return DomainLimits(
        redis,
        concurrency=settings.smtp_domain_concurrency,
        rate_per_minute=settings.smtp_domain_rate_per_minute,
        # A lease outlives any transaction, and is freed if its replica dies holding it.
        lease_seconds=settings.smtp_connect_timeout + 3 * settings.smtp_command_timeout,
        throttle_delay=settings.smtp_throttle_delay,
        clock=lambda: now().timestamp(),
    )


def _pools(settings: SmtpSettings, options: ConnectOptions) -> Pools:
    limits = PoolLimits(
        size=settings.smtp_pool_size_per_domain,
        idle_timeout=settings.smtp_pool_idle_timeout,
        max_transactions=settings.smtp_pool_max_messages,
        probe_after=settings.smtp_pool_probe_after,
    )
    return Pools(Connector(options), limits)
