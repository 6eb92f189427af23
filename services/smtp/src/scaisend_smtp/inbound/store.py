"""Where inbound mail lives in object storage, and the envelope kept beside it.

Layout (one prefix, dated by receipt):
  inbound/<YYYY-MM-DD>/<inb_id>.eml            the bytes exactly as received, nothing prepended
  inbound/<YYYY-MM-DD>/<inb_id>.envelope.json  InboundEnvelope: MAIL FROM, RCPT TOs, peer, TLS
  inbound/pending/<YYYY-MM-DD>/<inb_id>        empty; present until processing has settled it
  inbound/unmatched/<YYYY-MM-DD>/<inb_id>.json UnmatchedMark: why processing could not use it
The raw object is never moved or deleted by processing; the unmatched mark is an index an
operator lists to find what was kept but not acted on. The pending marks are the work still to
do, independent of Redis: a sweep re-queues any old enough to have lost their job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict, ValidationError

from scaisend_core.errors import ObjectNotFound, StorageError
from scaisend_core.ids import new_id
from scaisend_core.models import utcnow
from scaisend_core.queue import ProcessInbound, enqueue
from scaisend_core.storage import Storage

PREFIX = "inbound"
log = logging.getLogger(__name__)
UNMATCHED_PREFIX = f"{PREFIX}/unmatched"
PENDING_PREFIX = f"{PREFIX}/pending/"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class InboundEnvelope(BaseModel):
    """The SMTP envelope of one received message: the parts a DSN's body does not repeat (the
    VERP address it was sent to above all)."""

    model_config = ConfigDict(frozen=True)

    mail_from: str
    rcpt_tos: list[str]
    peer: str | None
    helo: str | None
    tls: bool
    received_at: datetime
    size: int


class UnmatchedMark(BaseModel):
    storage_key: str
    kind: str
    outcome: str  # unmatched | unrecognised | error
    reason: str
    marked_at: datetime


def raw_key(day: str, inbound_id: str) -> str:
    return f"{PREFIX}/{day}/{inbound_id}.eml"


def envelope_key(storage_key: str) -> str:
    return storage_key.removesuffix(".eml") + ".envelope.json"


def unmatched_key(storage_key: str) -> str:
    """inbound/<day>/<id>.eml -> inbound/unmatched/<day>/<id>.json"""
    day, _, name = storage_key.removeprefix(PREFIX + "/").partition("/")
    return f"{UNMATCHED_PREFIX}/{day}/{name.removesuffix('.eml')}.json"


def pending_key(storage_key: str) -> str:
    """inbound/<day>/<id>.eml -> inbound/pending/<day>/<id>"""
    return PENDING_PREFIX + storage_key.removeprefix(PREFIX + "/").removesuffix(".eml")


def storage_key_of(pending: str) -> str:
    return f"{PREFIX}/{pending.removeprefix(PENDING_PREFIX)}.eml"


async def accept(storage: Storage, redis: ArqRedis, raw: bytes, envelope: InboundEnvelope) -> str:
    """Persist the message, its envelope and its pending mark, then queue its processing. Only
    when all four succeeded may the listener answer 250; any exception means 451 and a retry by
    the sender."""
    key = raw_key(envelope.received_at.strftime("%Y-%m-%d"), new_id("inb"))
    await storage.put(key, raw, "message/rfc822")
    await storage.put(envelope_key(key), envelope.model_dump_json().encode(), "application/json")
    await storage.put(pending_key(key), b"", "application/octet-stream")
    await enqueue(redis, ProcessInbound(storage_key=key))
    return key


async def settle(storage: Storage, storage_key: str) -> None:
    """Processing reached an outcome: the message is no longer pending. A mark that cannot be
    removed now only costs one idempotent re-run after a later sweep."""
    try:
        await storage.delete(pending_key(storage_key))
    except StorageError:
        log.warning("inbound %s: could not clear its pending mark", storage_key, exc_info=True)


async def requeue_stranded(
    storage: Storage, redis: ArqRedis, *, older_than: timedelta, now: datetime, limit: int = 1000
) -> int:
    """Queue `process_inbound` again for every pending message received more than `older_than`
    ago: its job was lost (a Redis restart or failover) or gave up during an outage. Job ids
    are deterministic, so a job still queued or running is not doubled; returns how many were
    queued."""
    cutoff_ms = (now - older_than).timestamp() * 1000
    queued = 0
    for pending in await storage.keys(PENDING_PREFIX, limit=limit):
        received_ms = _ulid_ms(pending.rpartition("/")[2])
        if received_ms is None or received_ms > cutoff_ms:
            continue
        if await enqueue(redis, ProcessInbound(storage_key=storage_key_of(pending))):
            queued += 1
    return queued


def _ulid_ms(inbound_id: str) -> int | None:
    """The millisecond timestamp in an `inb_<ULID>` id (its first 10 Crockford digits)."""
    digits = inbound_id.removeprefix("inb_")[:10].upper()
    if len(digits) != 10:
        return None
    try:
        return sum(_CROCKFORD.index(c) << (5 * (9 - i)) for i, c in enumerate(digits))
    except ValueError:  # not one of our ids: leave it to an operator
        return None


async def load(storage: Storage, storage_key: str) -> tuple[bytes, InboundEnvelope]:
    """The raw bytes (ObjectNotFound if gone) and their envelope. A lost or unreadable envelope
    costs only the VERP correlation by envelope recipient, so it never blocks processing."""
    raw = await storage.get(storage_key)
    try:
        envelope = InboundEnvelope.model_validate_json(await storage.get(envelope_key(storage_key)))
    except (ObjectNotFound, ValidationError):
        log.warning(
            "inbound %s: envelope missing or unreadable; correlating by headers", storage_key
        )
        envelope = InboundEnvelope(
            mail_from="",
            rcpt_tos=[],
            peer=None,
            helo=None,
            tls=False,
            received_at=utcnow(),
            size=len(raw),
        )
    return raw, envelope


async def mark_unmatched(
    storage: Storage,
    storage_key: str,
    *,
    kind: str,
    outcome: str,
    reason: str,
) -> None:
    mark = UnmatchedMark(
        storage_key=storage_key, kind=kind, outcome=outcome, reason=reason, marked_at=utcnow()
    )
    await storage.put(
        unmatched_key(storage_key), mark.model_dump_json().encode(), "application/json"
    )
