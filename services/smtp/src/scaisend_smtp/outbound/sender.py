"""One SMTP transaction on a connection (MAIL FROM, a RCPT TO per recipient, DATA), returned
as one SendResult per recipient. Replies are results, never exceptions: 2xx is `sent`, 4xx
(and a lost connection or a timeout) `soft_fail`, 5xx `hard_fail`.

When the server advertises PIPELINING (RFC 2920), MAIL, the RCPTs and DATA go in one write (of
up to COMMANDS_PER_WRITE commands) and their replies are read together, then the content: two
round trips instead of three plus one per recipient."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    PERIOD_REGEX,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse

from scaisend_smtp.outbound.pool import Connection

T = TypeVar("T")
# Pipelined commands per write. Their replies sit in aiosmtplib's buffer together, which raises
# "Response too long" past MAX_RESPONSE_LENGTH (32 KB): 100 leaves ~320 bytes a reply (Gmail's
# RCPT replies are ~70); a personalization may have 1000 recipients.
COMMANDS_PER_WRITE = 100


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
    if conn.supports("pipelining"):
        return await pipelined(conn, envelope, message)
    client, mx, tls = conn.client, conn.host, conn.tls
    encoding = "utf-8" if not envelope.mail_from.isascii() else "ascii"
    options = _mail_options(conn, envelope, message)
    try:
        await _timed(conn, client.mail(envelope.mail_from, options=options, encoding=encoding,
                                       timeout=None))  # fmt: skip
    except aiosmtplib.SMTPResponseException as exc:
        conn.broken = exc.code == 421  # aiosmtplib has closed the connection
        return results_for(envelope.recipients, exc.code, exc.message, mx, tls)
    accepted: list[Rcpt] = []
    results: list[SendResult] = []
    for position, rcpt in enumerate(envelope.recipients):
        try:
            encoding = "utf-8" if not rcpt.email.isascii() else "ascii"
            await _timed(conn, client.rcpt(rcpt.email, encoding=encoding, timeout=None))
            accepted.append(rcpt)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # closing: refusals so far stand, the rest wait for a retry
                conn.broken = True
                deferred = [*accepted, *envelope.recipients[position:]]
                return results + results_for(deferred, exc.code, exc.message, mx, tls)
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


async def pipelined(conn: Connection, envelope: Envelope, message: bytes) -> list[SendResult]:
    """The transaction in two exchanges (RFC 2920 §3.1): MAIL, RCPTs and DATA, then the
    content once DATA said 354 and some recipient was accepted. A 421 anywhere ends it as
    aiosmtplib's 421 ends the unpipelined one: connection closed, every recipient deferred
    but those refused for good before it."""
    mx, tls, rcpts = conn.host, conn.tls, envelope.recipients
    try:
        mail, *replies = await _commands(conn, envelope, message)
    except aiosmtplib.SMTPResponseException as exc:  # a reply we cannot read: start afresh
        conn.broken = True
        return results_for(rcpts, exc.code, exc.message, mx, tls)
    closing = next((r for r in (mail, *replies) if r.code == 421), None)
    if closing is not None:  # the server is closing the channel
        _close(conn)
        return _closed(envelope, mail, replies, closing, conn)
    if mail.code != 250:
        await _end_data(conn, replies[len(rcpts)] if len(replies) > len(rcpts) else None)
        return results_for(rcpts, mail.code, mail.message, mx, tls)
    *replies, data = replies
    accepted = [r for r, reply in zip(rcpts, replies, strict=True) if reply.code in (250, 251)]
    results = [SendResult(r, status_for(reply.code), reply.code, reply.message, mx, tls)
               for r, reply in zip(rcpts, replies, strict=True) if reply.code not in (250, 251)]  # fmt: skip
    if data.code != 354 or not accepted:
        await _end_data(conn, data)  # the transaction stays open: RSET before reuse (dirty)
        return results + results_for(accepted, data.code, data.message, mx, tls)
    [final] = await _timed(conn, _exchange(conn, _content(message), 1))
    if final.code == 421:
        _close(conn)
    elif 200 <= final.code < 300:
        conn.dirty = False
    return results + results_for(accepted, final.code, final.message, mx, tls)


def _closed(
    envelope: Envelope,
    mail: SMTPResponse,
    replies: list[SMTPResponse],
    closing: SMTPResponse,
    conn: Connection,
) -> list[SendResult]:
    """After a 421: a recipient the server had refused with a 5xx before it keeps that reply (a
    bounce, as unpipelined); the rest, accepted or unanswered, are deferred (no DATA happened)."""
    mx, tls, rcpts = conn.host, conn.tls, envelope.recipients
    refused: dict[int, SMTPResponse] = {}  # index in rcpts -> its 5xx
    if mail.code == 250:  # after a refused MAIL the RCPT replies say nothing of the recipient
        for n, reply in enumerate(replies[: len(rcpts)]):
            if reply.code == 421:
                break
            if 500 <= reply.code < 600:
                refused[n] = reply
    results = [SendResult(rcpts[n], status_for(reply.code), reply.code, reply.message, mx, tls)
               for n, reply in refused.items()]  # fmt: skip
    deferred = [r for n, r in enumerate(rcpts) if n not in refused]
    return results + results_for(deferred, closing.code, closing.message, mx, tls)


async def _commands(conn: Connection, envelope: Envelope, message: bytes) -> list[SMTPResponse]:
    """The replies to MAIL, the RCPTs and DATA, written COMMANDS_PER_WRITE at a time, each
    write's replies read before the next (RFC 2920 §3.1 lets the client wait anywhere): they
    sit in aiosmtplib's buffer together, which holds at most MAX_RESPONSE_LENGTH. Stops early
    (fewer replies) after a refused MAIL or a 421."""
    lines = [_command(b"MAIL FROM:", envelope.mail_from, _mail_options(conn, envelope, message))]
    lines += [_command(b"RCPT TO:", r.email) for r in envelope.recipients]
    lines.append(b"DATA\r\n")
    replies: list[SMTPResponse] = []
    for start in range(0, len(lines), COMMANDS_PER_WRITE):
        chunk = lines[start : start + COMMANDS_PER_WRITE]
        replies += await _timed(conn, _exchange(conn, b"".join(chunk), len(chunk)))
        if replies[0].code != 250 or any(r.code == 421 for r in replies[start:]):
            break
    return replies


def _close(conn: Connection) -> None:
    """After a 421: the server is closing the channel; so do we (never back to the pool)."""
    conn.broken = True
    conn.client.close()


def _command(verb: bytes, address: str, options: Sequence[str] = ()) -> bytes:
    """A MAIL or RCPT line as aiosmtplib writes it (quoted address, no control characters)."""
    encoded = quote_address(address).encode("ascii" if address.isascii() else "utf-8")
    line = b" ".join([verb + encoded, *(o.encode("ascii") for o in options)])
    if COMMAND_INJECTION_REGEX.search(line):
        raise ValueError("Command arg contains a prohibited control character")
    return line + b"\r\n"


def _content(message: bytes) -> bytes:
    """DATA content as aiosmtplib sends it: CRLF line endings, leading dots doubled, the end.
    Each regex pass is skipped when counts or a search prove it would change nothing (the
    pipeline's content is CRLF already, and few lines start with a dot)."""
    crlf_only = message.count(b"\n") == message.count(b"\r\n") == message.count(b"\r")
    if not (crlf_only and message.endswith(b"\r\n")):
        message = normalize_message_line_endings(message)
    if message.startswith(b".") or b"\n." in message:
        message = PERIOD_REGEX.sub(b"..", message)
    return message + b".\r\n"


async def _end_data(conn: Connection, data: SMTPResponse | None) -> None:
    """A 354 to a DATA without a transaction to send is ended with a lone dot (RFC 2920 §3.1)."""
    if data is not None and data.code == 354:
        await _timed(conn, _exchange(conn, b".\r\n", 1))


async def _exchange(conn: Connection, data: bytes, replies: int) -> list[SMTPResponse]:
    """Write `data` and read `replies` replies. aiosmtplib reads one reply per command written;
    the pipelined ones after the first may already sit in its buffer, so they are parsed from
    there, and awaited only when not all in yet (its protocol's own parsing, under its lock)."""
    protocol = conn.client.protocol
    if protocol is None or protocol._command_lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    async with protocol._command_lock:
        protocol._response_pending = True
        protocol.write(data)
        read = [await protocol.read_response()]
        while len(read) < replies:
            read.append(protocol._read_response_from_buffer() or await protocol.read_response())
    return read
