"""What the lifespan owns (engine, sessions, Redis/arq pool, storage, auth), typed for handlers."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from scaisend_api.auth import Authenticator, LastUsedTracker
from scaisend_api.ratelimit import RateLimiter
from scaisend_api.services.mail.committer import GroupCommitter
from scaisend_api.services.mail.senders import SenderDomains
from scaisend_api.settings import ApiSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.db import Reads, SessionFactory
from scaisend_core.storage import Storage


@dataclass(slots=True)
class AppState:
    settings: ApiSettings
    engine: AsyncEngine
    sessions: SessionFactory
    reads: Reads
    redis: ArqRedis
    storage: Storage
    secrets: SecretBox
    authenticator: Authenticator
    last_used: LastUsedTracker
    rate_limiter: RateLimiter
    committer: GroupCommitter
    senders: SenderDomains
