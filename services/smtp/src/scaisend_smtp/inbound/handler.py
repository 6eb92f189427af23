"""The aiosmtpd handler: whom we accept mail for (RCPT) and what accepting means (DATA).

RCPT accepts our VERP return paths and fbl@/abuse@ on INBOUND_DOMAIN and on every sender
domain's return-path host; everything else is refused, so the listener is never a relay. DATA
stores the bytes and their envelope and queues `process_inbound`; it neither parses nor touches
MySQL, and it says 250 only once the message is safe in storage and its job is in Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq.connections import ArqRedis

from scaisend_core.models import utcnow
from scaisend_core.storage import Storage
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import replies, store
from scaisend_smtp.inbound.hosts import HostVerdict, ReturnPathHosts

# RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients; a DSN has one.
MAX_RECIPIENTS = 100
STORE_TIMEOUT = 120.0
REPORT_MAILBOXES = frozenset({"fbl", "abuse"})
log = logging.getLogger(__name__)


class InboundHandler:
    def __init__(
        self, hosts: ReturnPathHosts, verp: Verp, storage: Storage, redis: ArqRedis
    ) -> None:
        self._hosts = hosts
        self._verp = verp
        self._storage = storage
        self._redis = redis

    async def handle_RCPT(  # noqa: N802  (aiosmtpd dispatches on the SMTP verb)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.refusal(address, len(envelope.rcpt_tos))
        if refusal is not None:
            log.info("refused RCPT %s from %s: %s", address, _peer(session), refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.OK_RECIPIENT

    def refusal(self, address: str, accepted_so_far: int) -> str | None:
        """The reply refusing `address`, or None when we take mail for it."""
        if accepted_so_far >= MAX_RECIPIENTS:
            return replies.TOO_MANY_RECIPIENTS
        local, _, host = address.rpartition("@")
        verdict = self._hosts.verdict(host) if local else HostVerdict.FOREIGN
        if verdict is HostVerdict.FOREIGN:
            return replies.RELAY_DENIED
        if verdict is HostVerdict.UNKNOWN:
            return replies.HOSTS_UNKNOWN
        if local.lower() in REPORT_MAILBOXES or self._verp.parse(address) is not None:
            return None
        return replies.NO_SUCH_USER

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        raw: bytes = envelope.original_content or b""
        received = store.InboundEnvelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            peer=_peer(session),
            helo=session.host_name,
            tls=session.ssl is not None,
            received_at=utcnow(),
            size=len(raw),
        )
        try:
            key = await asyncio.wait_for(
                store.accept(self._storage, self._redis, raw, received), STORE_TIMEOUT
            )
        except Exception:  # storage, Redis or a timeout: the sender must retry, never lose it
            log.exception("could not store inbound message from %s; answered 451", received.peer)
            return replies.TRY_LATER
        log.info("inbound message %s from %s (%d bytes) queued", key, received.peer, len(raw))
        return replies.queued(key)

    async def handle_exception(self, error: Exception) -> str:
        log.error("inbound SMTP session error", exc_info=error)
        return replies.TRY_LATER


def _peer(session: Any) -> str | None:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else None
