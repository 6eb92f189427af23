"""What a worker process shares across jobs: settings, database, Redis, storage, secrets,
tracking tokens, the compiled-template cache and an injectable clock; and the unit of work a job
runs in (commit, then enqueue what the transaction produced)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory, create_engine, create_session_factory
from scaisend_core.models import utcnow
from scaisend_core.queue import Job, JobBuffer
from scaisend_core.queue.connection import create_arq_pool
from scaisend_core.storage import Storage, open_storage
from scaisend_core.templating import TemplateCache
from scaisend_core.tracking_tokens import TrackingTokens
from scaisend_worker.config import WorkerConfig
from scaisend_worker.process.compose import SourceCache

CTX_KEY = "worker"
Clock = Callable[[], datetime]


@dataclass(slots=True)
class WorkerContext:
    settings: WorkerConfig
    engine: AsyncEngine
    sessions: SessionFactory
    redis: ArqRedis
    storage: Storage
    secrets: SecretBox
    tokens: TrackingTokens
    templates: TemplateCache
    template_sources: SourceCache
    clock: Clock = field(default=utcnow)

    def as_ctx(self) -> dict[str, Any]:
        """The arq ctx: the typed context under "worker", and the shared clients under the
        plain names other job modules (webhooks) look for."""
        return {
            CTX_KEY: self,
            "settings": self.settings,
            "engine": self.engine,
            "sessions": self.sessions,
            "redis": self.redis,
            "storage": self.storage,
            "secrets": self.secrets,
            "templates": self.templates,
        }


def from_ctx(ctx: dict[str, Any]) -> WorkerContext:
    app = ctx[CTX_KEY]
    assert isinstance(app, WorkerContext)
    return app


@asynccontextmanager
async def open_context(
    settings: WorkerConfig, *, redis: ArqRedis | None = None, clock: Clock = utcnow
) -> AsyncIterator[WorkerContext]:
    """Open every client a worker needs and close them in reverse order."""
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        if redis is None:
            redis = await create_arq_pool(settings.redis_url)
            stack.push_async_callback(redis.aclose)
        storage = await stack.enter_async_context(open_storage(settings))
        secret = settings.secret_key.get_secret_value()
        previous = [s.get_secret_value() for s in settings.secret_key_previous]
        yield WorkerContext(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            redis=redis,
            storage=storage,
            secrets=SecretBox(secret, previous),
            tokens=TrackingTokens(secret, previous),
            templates=TemplateCache(settings.template_cache_size),
            template_sources=SourceCache(settings.template_cache_size),
            clock=clock,
        )


class UnitOfWork:
    """A session and the jobs it produces: `commit()` commits, then enqueues; leaving without
    committing rolls back and drops the jobs."""

    def __init__(self, session: AsyncSession, redis: ArqRedis) -> None:
        self.session = session
        self.jobs = JobBuffer()
        self._redis = redis

    def enqueue(self, job: Job, *, defer_until: datetime | None = None) -> None:
        self.jobs.add(job, defer_until=defer_until)

    async def commit(self) -> None:
        await self.session.commit()
        await self.jobs.flush(self._redis)


@asynccontextmanager
async def unit_of_work(app: WorkerContext) -> AsyncIterator[UnitOfWork]:
    async with app.sessions() as session:
        uow = UnitOfWork(session, app.redis)
        try:
            yield uow
        finally:
            uow.jobs.clear()
