"""Sender-domain DNS records: what to publish, how each is checked, and `verify_domain`, the one
verification the API's /verify and the worker's periodic re-check both run.

Rule for `verified` (all three required): the DKIM TXT at `<selector>._domainkey.<domain>`
carries the stored public key; the domain's single SPF record (RFC 7208) names
`include:<SPF_INCLUDE>` (default: the inbound host) or redirects to it; `_dmarc.<domain>`
holds one DMARC record with a valid `p=`. The return-path MX (or a CNAME to the inbound host)
is advisory: when it fails, delivery uses the inbound host itself as the VERP domain, so
bounces still come back. A pending (rotated) DKIM key takes over signing once its record
verifies; an Ed25519 key is added as a second signature once its record verifies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from scaisend_core import dkim_keys
from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.dns import DnsLookupError, Resolver
from scaisend_core.models import SenderDomain, utcnow
from scaisend_core.repositories import sender_domains as repo

RecordName = Literal["dkim", "dkim_pending", "dkim_ed25519", "spf", "dmarc", "return_path"]
REQUIRED: frozenset[str] = frozenset({"dkim", "spf", "dmarc"})
RETURN_PATH_PRIORITY = 10
_DMARC_POLICY = re.compile(r"(?:^|;)\s*p\s*=\s*(none|quarantine|reject)\s*(?:;|$)", re.I)


@dataclass(frozen=True, slots=True)
class DnsPolicy:
    """What our records point at: the SPF include target and the inbound (bounce) host."""

    spf_include: str
    inbound_host: str

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> DnsPolicy:
        return cls(settings.spf_include_host, settings.inbound_host.lower().rstrip("."))


@dataclass(frozen=True, slots=True)
class ExpectedRecord:
    name: RecordName
    host: str
    type: Literal["TXT", "MX"]
    value: str
    required: bool
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class RecordCheck:
    valid: bool
    reason: str | None
    checked_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "checked_at": self.checked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Verification:
    domain: SenderDomain
    checks: dict[str, RecordCheck]
    promoted: bool  # a pending DKIM key verified and now signs

    @property
    def failing(self) -> dict[str, RecordCheck]:
        return {name: c for name, c in self.checks.items() if not c.valid}


def spf_value(policy: DnsPolicy) -> str:
    return f"v=spf1 include:{policy.spf_include} ~all"


def dmarc_value(domain: SenderDomain) -> str:
    value = f"v=DMARC1; p={domain.dmarc_policy}"
    return value + (f"; rua=mailto:{domain.dmarc_rua_email}" if domain.dmarc_rua_email else "")


def expected_records(domain: SenderDomain, policy: DnsPolicy) -> list[ExpectedRecord]:
    """Every record the customer publishes, in the order the API shows them."""
    d = domain.domain
    records = [
        _dkim("dkim", d, domain.dkim_selector, domain.dkim_algorithm, domain.dkim_public_key, True)
    ]
    if domain.pending_selector and domain.pending_public_key:
        records.append(_dkim("dkim_pending", d, domain.pending_selector, "rsa-sha256",
                             domain.pending_public_key, False))  # fmt: skip
    if domain.ed25519_selector and domain.ed25519_public_key:
        records.append(_dkim("dkim_ed25519", d, domain.ed25519_selector, "ed25519-sha256",
                             domain.ed25519_public_key, False))  # fmt: skip
    records += [
        ExpectedRecord("spf", d, "TXT", spf_value(policy), True),
        ExpectedRecord("dmarc", f"_dmarc.{d}", "TXT", dmarc_value(domain), True),
        ExpectedRecord("return_path", domain.return_path_host, "MX", policy.inbound_host, False,
                       RETURN_PATH_PRIORITY),
    ]  # fmt: skip
    return records


def _dkim(
    name: RecordName, domain: str, selector: str, algorithm: str, public_b64: str, required: bool
) -> ExpectedRecord:
    host = dkim_keys.record_host(selector, domain)
    return ExpectedRecord(
        name, host, "TXT", dkim_keys.record_value(algorithm, public_b64), required
    )


async def verify_domain(
    resolver: Resolver, domain: SenderDomain, policy: DnsPolicy, *, now: datetime | None = None
) -> Verification:
    """Look every record up (concurrently), store each result on the row, promote a verified
    pending key, and set `verified`. The caller commits."""
    checked_at = now or utcnow()
    expected = expected_records(domain, policy)
    results = await asyncio.gather(*(_check(resolver, r, policy, checked_at) for r in expected))
    checks: dict[str, RecordCheck] = {
        record.name: result for record, result in zip(expected, results, strict=True)
    }
    promoted = _promote_pending(domain, checks)
    _store(domain, checks, checked_at)
    return Verification(domain, checks, promoted)


def _promote_pending(domain: SenderDomain, checks: dict[str, RecordCheck]) -> bool:
    pending = checks.get("dkim_pending")
    selector, sealed, public = (
        domain.pending_selector,
        domain.pending_private_key,
        domain.pending_public_key,
    )
    if pending is None or not pending.valid or not (selector and sealed and public):
        return False
    domain.dkim_selector, domain.dkim_private_key, domain.dkim_public_key = selector, sealed, public
    domain.dkim_algorithm = "rsa-sha256"
    domain.pending_selector = domain.pending_private_key = domain.pending_public_key = None
    checks["dkim"] = checks.pop("dkim_pending")  # the new key's record is the one that passed
    return True


def _store(domain: SenderDomain, checks: dict[str, RecordCheck], checked_at: datetime) -> None:
    verified = all(checks[name].valid for name in REQUIRED)
    if verified and not domain.verified:
        domain.verified_at = checked_at
    domain.verified = verified
    domain.dns_checks = {name: check.as_json() for name, check in checks.items()}
    domain.last_checked_at = checked_at


Checker = Callable[[Resolver, ExpectedRecord, DnsPolicy], Awaitable[str | None]]


async def _check(
    resolver: Resolver, record: ExpectedRecord, policy: DnsPolicy, checked_at: datetime
) -> RecordCheck:
    checker = _CHECKERS[record.name]
    try:
        reason = await checker(resolver, record, policy)
    except DnsLookupError as exc:
        reason = _lookup_reason(record, exc)
    return RecordCheck(reason is None, reason, checked_at)


def _lookup_reason(record: ExpectedRecord, exc: DnsLookupError) -> str:
    if exc.permanent:
        return f"No {record.type} record found at {record.host}"
    return f"DNS lookup of {record.host} failed ({exc.detail}); try again later"


async def _check_dkim(resolver: Resolver, record: ExpectedRecord, _: DnsPolicy) -> str | None:
    expected_p = _tag(record.value, "p") or ""
    tags = [_tag(txt, "p") for txt in await resolver.txt(record.host)]
    keys = [k for k in tags if k]
    if not keys:
        return f"The TXT record at {record.host} is not a DKIM key (no p= tag)"
    if any(dkim_keys.public_key_matches(k, expected_p) for k in keys):
        return None
    return f"The public key at {record.host} does not match this domain's DKIM key"


async def _check_spf(resolver: Resolver, record: ExpectedRecord, policy: DnsPolicy) -> str | None:
    spf = [t for t in await resolver.txt(record.host) if re.match(r"v=spf1(\s|$)", t, re.I)]
    if not spf:
        return f"No SPF record (v=spf1) found at {record.host}"
    if len(spf) > 1:
        return f"{record.host} has {len(spf)} SPF records; RFC 7208 allows one (permerror)"
    terms = [t.lower() for t in spf[0].split()[1:]]
    target = policy.spf_include
    if (
        f"include:{target}" in terms
        or f"+include:{target}" in terms
        or f"redirect={target}" in terms
    ):
        return None
    return f"The SPF record at {record.host} does not include:{target}"


async def _check_dmarc(resolver: Resolver, record: ExpectedRecord, _: DnsPolicy) -> str | None:
    dmarc = [t for t in await resolver.txt(record.host) if re.match(r"v\s*=\s*DMARC1", t, re.I)]
    if not dmarc:
        return f"No DMARC record (v=DMARC1) found at {record.host}"
    if len(dmarc) > 1:
        return f"{record.host} has {len(dmarc)} DMARC records; receivers ignore them all"
    if not _DMARC_POLICY.search(dmarc[0]):
        return f"The DMARC record at {record.host} has no valid p= policy"
    return None


async def _check_return_path(
    resolver: Resolver, record: ExpectedRecord, policy: DnsPolicy
) -> str | None:
    try:
        if await resolver.cname(record.host) == policy.inbound_host:
            return None
    except DnsLookupError as exc:
        if not exc.permanent:
            raise
    exchanges = [mx.exchange for mx in await resolver.mx(record.host)]
    if policy.inbound_host in exchanges:
        return None
    return f"The MX of {record.host} does not point to {policy.inbound_host}"


_CHECKERS: dict[str, Checker] = {
    "dkim": _check_dkim,
    "dkim_pending": _check_dkim,
    "dkim_ed25519": _check_dkim,
    "spf": _check_spf,
    "dmarc": _check_dmarc,
    "return_path": _check_return_path,
}


def _tag(record: str, name: str) -> str | None:
    """A tag's value from a `k=v; k=v` record (RFC 6376 §3.2), or None."""
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


async def recheck_domains(
    sessions: SessionFactory,
    resolver: Resolver,
    policy: DnsPolicy,
    *,
    older_than: timedelta,
    limit: int = 100,
    now: datetime | None = None,
) -> int:
    """The periodic re-check: verify domains not checked for `older_than`, oldest first, each
    in its own transaction. Returns how many were checked."""
    moment = now or utcnow()
    async with sessions() as session:
        due = await repo.due_for_check(session, moment - older_than, limit)
    for domain_id, tenant_id in due:
        async with sessions() as session:
            domain = await repo.get_domain(session, tenant_id, domain_id)
            if domain is None:
                continue
            await verify_domain(resolver, domain, policy, now=moment)
            await session.commit()
    return len(due)
