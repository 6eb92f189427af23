"""RCPT policy decisions of the handler, below the protocol."""

from __future__ import annotations

from arq.connections import ArqRedis

from scaisend_core.db import SessionFactory
from scaisend_core.storage import LocalStorage
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import replies
from scaisend_smtp.inbound.handler import MAX_RECIPIENTS, InboundHandler
from scaisend_smtp.inbound.hosts import ReturnPathHosts
from tests.fixtures.environment import TEST_SECRET_KEY


def handler(sessions: SessionFactory, storage: LocalStorage, redis: ArqRedis) -> InboundHandler:
    hosts = ReturnPathHosts(sessions, "bounces.scaisend.test")  # never loaded
    return InboundHandler(hosts, Verp(TEST_SECRET_KEY), storage, redis)


def test_sender_hosts_get_a_temporary_refusal_until_the_cache_loads(
    sessions: SessionFactory, local_storage: LocalStorage, redis: ArqRedis
) -> None:
    h = handler(sessions, local_storage, redis)
    assert h.refusal("fbl@bounces.acme.example", 0) == replies.HOSTS_UNKNOWN
    assert h.refusal("fbl@bounces.scaisend.test", 0) is None
    assert h.refusal("ABUSE@bounces.scaisend.test", 0) is None


def test_address_without_a_local_part_is_not_relayed(
    sessions: SessionFactory, local_storage: LocalStorage, redis: ArqRedis
) -> None:
    h = handler(sessions, local_storage, redis)
    assert h.refusal("bounces.scaisend.test", 0) == replies.RELAY_DENIED
    assert h.refusal("@bounces.scaisend.test", 0) == replies.RELAY_DENIED


def test_recipient_count_is_capped(
    sessions: SessionFactory, local_storage: LocalStorage, redis: ArqRedis
) -> None:
    h = handler(sessions, local_storage, redis)
    assert h.refusal("fbl@bounces.scaisend.test", MAX_RECIPIENTS) == replies.TOO_MANY_RECIPIENTS
