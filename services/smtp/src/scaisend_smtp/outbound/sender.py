"""One SMTP transaction on a connection (MAIL FROM, a RCPT TO per recipient, DATA), returned
as one SendResult per recipient. Replies are results, never exceptions: 2xx is `sent`, 4xx
(and a lost connection or a timeout) `soft_fail`, 5xx `hard_fail`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import aiosmtplib

from scaisend_smtp.outbound.pool import Connection

T = TypeVar("T")


class Status(StrEnum):
    SENT = "sent"
    SOFT_FAIL = "soft_fail"
    HARD_FAIL = "hard_fail"


@dataclass(frozen=True, slots=True)
class Rcpt:
    id: str  # message_recipients.id
    email: str


@dataclass(frozen=True, slots=True)
class SendResult:
    recipient: Rcpt
    status: Status
    code: int
    reply: str  # what the server said after the code, e.g. "2.0.0 OK queued as 123"
    mx: str | None = None
    tls: bool = False

    @property
    def smtp_response(self) -> str:
        return f"{self.code} {self.reply}".strip()


def status_for(code: int) -> Status:
    if 200 <= code < 400:
        return Status.SENT
    return Status.HARD_FAIL if 500 <= code < 600 else Status.SOFT_FAIL


def results_for(
    recipients: Sequence[Rcpt], code: int, reply: str, mx: str | None = None, tls: bool = False
) -> list[SendResult]:
    """The same outcome for every recipient (a MAIL FROM or DATA reply, a lost host)."""
    return [SendResult(r, status_for(code), code, reply, mx, tls) for r in recipients]


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    recipients: tuple[Rcpt, ...]


async def transact(conn: Connection, envelope: Envelope, message: bytes) -> list[SendResult]:
    """Run the transaction; the connection is marked dirty (needs RSET) or broken as needed."""
    refused = _refuse_before_sending(conn, envelope, message)
    if refused is not None:
        return refused
    conn.transactions += 1
    conn.dirty = True
    try:
        return await _converse(conn, envelope, message)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
        conn.broken = True
        reply = f"4.4.2 Connection with {conn.host} lost: {exc}"
        return results_for(envelope.recipients, 421, reply, conn.host, conn.tls)


def _refuse_before_sending(
    conn: Connection, envelope: Envelope, message: bytes
) -> list[SendResult] | None:
    limit = conn.size_limit
    if limit is not None and len(message) > limit:
        reply = f"5.3.4 Message size {len(message)} exceeds {conn.host}'s limit of {limit} bytes"
        return results_for(envelope.recipients, 552, reply, conn.host, conn.tls)
    addresses = [envelope.mail_from, *(r.email for r in envelope.recipients)]
    if not all(a.isascii() for a in addresses) and not conn.supports("smtputf8"):
        reply = f"5.6.7 {conn.host} does not support SMTPUTF8 for non-ASCII addresses"
        return results_for(envelope.recipients, 553, reply, conn.host, conn.tls)
    return None


async def _timed(conn: Connection, command: Awaitable[T]) -> T:
    """One command under the client's command timeout, as aiosmtplib would time it (same
    error, connection closed), but kept by asyncio.timeout instead of aiosmtplib's wait_for:
    wait_for passes every reply through an extra future and callback, two more turns of a busy
    event loop per reply, four round trips per message on a pooled connection."""
    try:
        async with asyncio.timeout(conn.client.timeout):
            return await command
    except TimeoutError as exc:
        if isinstance(exc, aiosmtplib.SMTPTimeoutError):
            raise
        conn.client.close()
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc


def _mail_options(conn: Connection, envelope: Envelope, message: bytes) -> list[str]:
    options = []
    if conn.supports("size"):
        options.append(f"SIZE={len(message)}")
    if conn.supports("8bitmime") and not message.isascii():
        options.append("BODY=8BITMIME")
    if conn.supports("smtputf8") and not all(
        a.isascii() for a in (envelope.mail_from, *(r.email for r in envelope.recipients))
    ):
        options.append("SMTPUTF8")
    return options


async def _converse(conn: Connection, envelope: Envelope, message: bytes) -> list[SendResult]:
    client, mx, tls = conn.client, conn.host, conn.tls
    encoding = "utf-8" if not envelope.mail_from.isascii() else "ascii"
    options = _mail_options(conn, envelope, message)
    try:
        await _timed(conn, client.mail(envelope.mail_from, options=options, encoding=encoding,
                                       timeout=None))  # fmt: skip
    except aiosmtplib.SMTPResponseException as exc:
        return results_for(envelope.recipients, exc.code, exc.message, mx, tls)
    accepted: list[Rcpt] = []
    results: list[SendResult] = []
    for rcpt in envelope.recipients:
        try:
            encoding = "utf-8" if not rcpt.email.isascii() else "ascii"
            await _timed(conn, client.rcpt(rcpt.email, encoding=encoding, timeout=None))
            accepted.append(rcpt)
        except aiosmtplib.SMTPResponseException as exc:
            results.append(SendResult(rcpt, status_for(exc.code), exc.code, exc.message, mx, tls))
    if not accepted:
        return results  # the transaction stays open: RSET before reuse (conn.dirty)
    try:
        reply = await _timed(conn, client.data(message, timeout=None))
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:  # the server is closing the channel
            conn.broken = True
        return results + results_for(accepted, exc.code, exc.message, mx, tls)
    conn.dirty = False
    return results + results_for(accepted, reply.code, reply.message, mx, tls)
