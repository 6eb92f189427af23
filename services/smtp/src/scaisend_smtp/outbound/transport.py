"""The three ways a signed message leaves: direct to each recipient domain's MX (with domain
limits, host back-off and MX failover), through SMTP_SMARTHOST, or into SMTP_CAPTURE_DIR."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from scaisend_smtp.outbound.context import Outbound, smarthost_address
from scaisend_smtp.outbound.limits import Held
from scaisend_smtp.outbound.mx import NoRoute, Route
from scaisend_smtp.outbound.pool import ConnectFailure
from scaisend_smtp.outbound.sender import Envelope, SendResult, results_for, transact


@dataclass(frozen=True, slots=True)
class HeldGroup:
    envelope: Envelope
    held: Held


async def via_mx(out: Outbound, envelope: Envelope, message: bytes) -> list[SendResult] | HeldGroup:
    """One recipient domain's transaction: route, take a domain slot, try MX hosts in order."""
    domain = envelope.recipients[0].email.rpartition("@")[2].lower()
    route = await out.mx.route(domain)
    if isinstance(route, NoRoute):
        return results_for(envelope.recipients, route.code, route.reply)
    lease = await out.limits.acquire(domain, [h.name for h in route.hosts])
    if isinstance(lease, Held):
        return HeldGroup(envelope, lease)
    try:
        return await _try_hosts(out, route, envelope, message, lease.backed_off)
    finally:
        await out.limits.release(lease)


async def _try_hosts(
    out: Outbound, route: Route, envelope: Envelope, message: bytes, backed_off: frozenset[str]
) -> list[SendResult]:
    """RFC 5321 §5.1: on to the next host when one cannot be reached; hosts that recently
    said 421 or could not be reached are skipped until their back-off expires."""
    failure: ConnectFailure | None = None
    for host in route.hosts:
        if host.name in backed_off:
            continue
        try:
            async with out.pools.lease(
                host.name, host.addresses, out.settings.smtp_mx_port
            ) as conn:
                return await transact(conn, envelope, message)
        except ConnectFailure as exc:
            failure = exc
            if exc.backoff:
                await out.limits.back_off(host.name, out.settings.smtp_host_backoff, exc.reply)
    if failure is None:
        names = ", ".join(h.name for h in route.hosts)
        reply = f"4.4.5 Not connecting to {names}: backing off after a 421 or a failed connection"
        return results_for(envelope.recipients, 421, reply)
    return results_for(envelope.recipients, failure.code, failure.reply, failure.host)


async def via_smarthost(out: Outbound, envelope: Envelope, message: bytes) -> list[SendResult]:
    host, port = smarthost_address(out.settings)
    try:
        async with out.smarthost_pools.lease(host, (host,), port) as conn:
            return await transact(conn, envelope, message)
    except ConnectFailure as exc:
        # Our relay refusing us (down, bad credentials) is ours to fix, never the recipients'
        # fault: defer them, whatever the code.
        reply = f"4.4.0 Smarthost {host} unavailable: {exc.code} {exc.reply}"
        return results_for(envelope.recipients, 451, reply, exc.host)


async def capture(
    out: Outbound, message_id: str, envelope: Envelope, message: bytes
) -> list[SendResult]:
    """Write `<SMTP_CAPTURE_DIR>/<message id>.eml` as a mailbox would store it (Return-Path and
    the envelope recipients in front of the signed message)."""
    directory = Path(out.settings.smtp_capture_dir)
    path = directory / f"{message_id}.eml"
    rcpts = ", ".join(r.email for r in envelope.recipients)
    head = f"Return-Path: <{envelope.mail_from}>\r\nX-ScaiSend-Envelope-To: {rcpts}\r\n"
    await asyncio.to_thread(_write_atomically, path, head.encode() + message)
    return results_for(envelope.recipients, 250, f"2.0.0 Captured to {path}", "capture")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
