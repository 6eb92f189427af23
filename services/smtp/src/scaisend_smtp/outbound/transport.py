"""The three ways a signed message leaves: direct to each recipient domain's MX (with domain
limits, host back-off and MX failover), through SMTP_SMARTHOST, or into SMTP_CAPTURE_DIR."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from scaisend_smtp.outbound.context import Outbound, smarthost_address
from scaisend_smtp.outbound.limits import Busy, DomainLimits, Held, Lease
from scaisend_smtp.outbound.mx import MxHost, NoRoute, Route
from scaisend_smtp.outbound.pool import ConnectFailure, Pools, Slot
from scaisend_smtp.outbound.sender import Envelope, SendResult, results_for, transact

R = TypeVar("R")


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
    """The transaction on one host, under the domain's lease (`leased`). Returns the results,
    the group held by a limit, the host's connect failure, or the hosts found backed off (this
    one among them)."""

    async def transaction(slot: Slot) -> list[SendResult] | ConnectFailure:
        return await _transact(slot, host, envelope, message)

    place = Place(host.name, out.settings.smtp_mx_port, domain, [h.name for h in route.hosts])
    outcome = await leased(out.pools, out.limits, place, transaction)
    return HeldGroup(envelope, outcome) if isinstance(outcome, Held) else outcome


@dataclass(frozen=True, slots=True)
class Place:
    host: str
    port: int
    domain: str
    hosts: list[str]  # the domain's MX hosts, whose back-off the lease request reads


async def leased(
    pools: Pools, limits: DomainLimits, place: Place, work: Callable[[Slot], Awaitable[R]]
) -> R | Held | frozenset[str]:
    """`work` in one of the host's pooled slots, under the domain's lease: the slot first, then
    the lease, so a lease always covers a connection in use. A busy domain gives the slot back
    before waiting (the host's other domains keep it busy meanwhile). When the work succeeded
    and a job of the same domain waits for the host, slot and lease go to it directly, the
    lease's credit standing for the next message counted (limits.py). Returns the work's
    result, Held, or the hosts found backed off (this one among them)."""
    waited = 0.0
    while True:
        lease: Lease | Busy | Held | None = None
        slot: Slot | None = None
        try:
            async with pools.slot(place.host, place.port, place.domain, _release(limits)) as slot:
                handed, slot.baton = slot.baton, None  # it goes on only if set again below
                lease = handed if isinstance(handed, Lease) else None
                lease = lease or await limits.acquire(place.domain, place.hosts)
                if isinstance(lease, Lease):
                    if place.host in lease.backed_off:
                        return lease.backed_off
                    result = await work(slot)
                    if not isinstance(result, ConnectFailure) and limits.may_pass_on(lease):
                        slot.baton = lease
                    return result
        finally:  # after the slot is free, so the round trip does not hold it
            if isinstance(lease, Lease):
                if slot is not None and slot.handed_off:
                    await limits.passed_on(lease)
                else:
                    await limits.release(lease)
        if isinstance(lease, Held):
            return lease
        turn = await limits.wait_turn(place.domain, waited)
        if isinstance(turn, Held):
            return turn
        waited = turn


def _release(limits: DomainLimits) -> Callable[[object], Awaitable[None]]:
    async def release(lease: object) -> None:
        assert isinstance(lease, Lease), "only leases are handed over"
        await limits.release(lease)

    return release


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
