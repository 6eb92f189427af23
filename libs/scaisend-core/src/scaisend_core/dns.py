"""DNS lookups through aiodns against DNS_NAMESERVERS (the system resolver when unset): the
TXT checks of sender-domain verification and the MX/A/AAAA lookups of delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiodns
import pycares

from scaisend_core.config import CoreSettings

DEFAULT_TIMEOUT = 3.0
DEFAULT_TRIES = 2


class Failure(StrEnum):
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, with no record of that type
    TEMPORARY = "temporary"  # timeout, SERVFAIL, refused: ask again later


class DnsLookupError(Exception):
    """A lookup that produced no answer; `failure` says whether asking again can help."""

    def __init__(self, name: str, rtype: str, failure: Failure, detail: str) -> None:
        super().__init__(f"{rtype} {name}: {detail}")
        self.name = name
        self.rtype = rtype
        self.failure = failure
        self.detail = detail

    @property
    def permanent(self) -> bool:
        return self.failure != Failure.TEMPORARY


_FAILURE_BY_CODE = {
    pycares.errno.ARES_ENOTFOUND: Failure.NXDOMAIN,
    pycares.errno.ARES_ENODATA: Failure.NODATA,
}


@dataclass(frozen=True, slots=True)
class MxRecord:
    preference: int
    exchange: str  # "" for a null MX (RFC 7505)


class Resolver:
    """One aiodns channel; create it inside the running loop and close it when done."""

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        tries: int = DEFAULT_TRIES,
    ) -> None:
        self._resolver = aiodns.DNSResolver(
            nameservers=list(nameservers) or None, timeout=timeout, tries=tries
        )

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> Resolver:
        return cls(settings.dns_nameservers)

    async def close(self) -> None:
        await self._resolver.close()

    async def _answer(self, name: str, rtype: str) -> list[Any]:
        try:
            result = await self._resolver.query_dns(name, rtype)
        except aiodns.error.DNSError as exc:
            code = exc.args[0] if exc.args else None
            detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            failure = _FAILURE_BY_CODE.get(code, Failure.TEMPORARY)
            raise DnsLookupError(name, rtype, failure, detail) from exc
        # The answer section also carries the CNAME chain that led to the records.
        wanted = aiodns.query_type_map[rtype]
        records = [r for r in result.answer if r.type == wanted]
        if not records:
            raise DnsLookupError(name, rtype, Failure.NODATA, "no records of that type")
        return [r.data for r in records]

    async def txt(self, name: str) -> list[str]:
        """Each TXT record with its strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
        return [_text(d.data) for d in await self._answer(name, "TXT")]

    async def mx(self, name: str) -> list[MxRecord]:
        records = await self._answer(name, "MX")
        return [MxRecord(int(d.priority), _host(d.exchange)) for d in records]

    async def cname(self, name: str) -> str:
        records = await self._answer(name, "CNAME")
        return _host(records[0].cname)

    async def addresses(self, name: str) -> list[str]:
        """A then AAAA addresses of a host; NODATA only when it has neither."""
        found: list[str] = []
        errors: list[DnsLookupError] = []
        for rtype in ("A", "AAAA"):
            try:
                found += [d.addr for d in await self._answer(name, rtype)]
            except DnsLookupError as exc:
                errors.append(exc)
        if found:
            return found
        temporary = [e for e in errors if not e.permanent]
        raise temporary[0] if temporary else errors[0]


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def _host(value: str) -> str:
    return value.rstrip(".").lower()


@asynccontextmanager
async def open_resolver(settings: CoreSettings) -> AsyncIterator[Resolver]:
    resolver = Resolver.from_settings(settings)
    try:
        yield resolver
    finally:
        await resolver.close()
