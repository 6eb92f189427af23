"""The three ways a signed message leaves: direct to each recipient domain's MX (with domain
limits, host back-off and MX failover), through SMTP_SMARTHOST, or into SMTP_CAPTURE_DIR."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from scaisend_smtp.outbound.context import Outbound, smarthost_address
from scaisend_smtp.outbound.limits import Busy, Held, Lease
from scaisend_smtp.outbound.mx import MxHost, NoRoute, Route
from scaisend_smtp.outbound.pool import ConnectFailure, Slot
from scaisend_smtp.outbound.sender import Envelope, SendResult, results_for, transact


@dataclass(frozen=True, slots=True)
class HeldGroup:
    envelope: Envelope
    held: Held


async def via_mx(out: Outbound, envelope: Envelope, message: bytes) -> list[SendResult] | HeldGroup:
    """One recipient domain's transaction: route, then try MX hosts in order (RFC 5321 §5.1: on
    to the next host when one cannot be reached); hosts that recently said 421 or could not be
    reached are skipped until their back-off expires."""
    domain = envelope.recipients[0].email.rpartition("@")[2].lower()
    route = await out.mx.route(domain)
    if isinstance(route, NoRoute):
        return results_for(envelope.recipients, route.code, route.reply)
    skip: frozenset[str] = frozenset()
    failure: ConnectFailure | None = None
    for host in route.hosts:
        if host.name in skip:
            continue
        outcome = await _on_host(out, domain, route, host, envelope, message)
        if isinstance(outcome, HeldGroup | list):
            return outcome
        if isinstance(outcome, ConnectFailure):
            failure = outcome
            if outcome.backoff:
                await out.limits.back_off(host.name, out.settings.smtp_host_backoff, outcome.reply)
        else:
            skip = outcome
    if failure is None:
        names = ", ".join(h.name for h in route.hosts)
        reply = f"4.4.5 Not connecting to {names}: backing off after a 421 or a failed connection"
        return results_for(envelope.recipients, 421, reply)
    return results_for(envelope.recipients, failure.code, failure.reply, failure.host)


async def _on_host(
    out: Outbound, domain: str, route: Route, host: MxHost, envelope: Envelope, message: bytes
) -> list[SendResult] | HeldGroup | ConnectFailure | frozenset[str]:
    """The transaction on one host: a pooled slot first, then the domain's lease, so a lease
    always covers a connection in use. A busy domain gives the slot back before waiting (the
    host's other domains keep it busy meanwhile). Returns the results, the group held by a
    limit, the host's connect failure, or the hosts found backed off (this one among them)."""
    waited = 0.0
    while True:
        lease: Lease | Busy | Held | None = None
        try:
            async with out.pools.slot(host.name, out.settings.smtp_mx_port) as slot:
                lease = await out.limits.acquire(domain, [h.name for h in route.hosts])
                if isinstance(lease, Lease):
                    if host.name in lease.backed_off:
                        return lease.backed_off
                    return await _transact(slot, host, envelope, message)
        finally:  # after the slot is free, so the release's round trip does not hold it
            if isinstance(lease, Lease):
                await out.limits.release(lease)
        if isinstance(lease, Held):
            return HeldGroup(envelope, lease)
        turn = await out.limits.wait_turn(domain, waited)
        if isinstance(turn, Held):
            return HeldGroup(envelope, turn)
        waited = turn


async def _transact(
    slot: Slot, host: MxHost, envelope: Envelope, message: bytes
) -> list[SendResult] | ConnectFailure:
    try:
        conn = await slot.connection(host.addresses)
    except ConnectFailure as exc:
        return exc
    return await transact(conn, envelope, message)


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
