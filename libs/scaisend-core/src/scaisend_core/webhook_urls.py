"""The SSRF guard for webhook URLs, used when an endpoint is saved (API) and on every delivery and
every new connection (worker): only http(s), HTTPS in production, and no host that resolves to a
loopback, private, link-local, multicast, unspecified or otherwise non-global address unless
WEBHOOK_ALLOW_PRIVATE is set. Cloud metadata addresses are refused even then: the deliveries log
shows response snippets, so a webhook aimed at them would hand out instance credentials."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from scaisend_core.config import CoreSettings
from scaisend_core.dns import DnsLookupError, Resolver

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str], Awaitable[list[str]]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeWebhookUrl(Exception):
    """The URL may not receive webhooks; the message says why, for the API error or the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_private: bool
    require_https: bool

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> UrlPolicy:
        return cls(settings.webhook_allow_private, settings.environment == "production")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition address really reaches, else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                return inner
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress, policy: UrlPolicy) -> str | None:
    """What kind of forbidden address `address` is ("a cloud metadata address" …), or None
    when delivering to it is allowed."""
    real = _embedded_ipv4(address)
    if address in METADATA_ADDRESSES or real in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if policy.allow_private:
        return None
    if real.is_multicast or address.is_multicast:
        return "a multicast address"
    if not real.is_global or not address.is_global:
        return "a loopback, private, link-local or reserved address"
    return None


def _parse(url: str, policy: UrlPolicy) -> tuple[SplitResult, str]:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"URL is not valid: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("URL scheme must be http or https")
    if policy.require_https and parts.scheme != "https":
        raise UnsafeWebhookUrl("URL must use HTTPS in production")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeWebhookUrl("URL has no host")
    return parts, host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class UrlGuard:
    """Checks URLs and resolves hosts; `lookup` is the A/AAAA resolver (core DNS by default)."""

    def __init__(self, policy: UrlPolicy, lookup: Lookup) -> None:
        self.policy = policy
        self._lookup = lookup

    @classmethod
    def for_resolver(cls, policy: UrlPolicy, resolver: Resolver) -> UrlGuard:
        return cls(policy, resolver.addresses)

    async def check(self, url: str) -> str:
        """Refuse an unsafe URL (UnsafeWebhookUrl); return the address a request would reach."""
        _, host = _parse(url, self.policy)
        return await self.address_for(host)

    def check_static(self, url: str) -> None:
        """What can be refused without DNS: scheme, HTTPS in production, literal addresses. Names
        are checked when a connection is opened (GuardedTransport), against the address it uses."""
        _, host = _parse(url, self.policy)
        literal = _literal(host.strip("[]"))
        if literal is not None and (kind := refusal(literal, self.policy)) is not None:
            raise UnsafeWebhookUrl(f"{literal} is {kind}")

    async def address_for(self, host: str) -> str:
        """Resolve `host` and return an allowed address; refuse if any address is not allowed
        (a name with one public and one private record must not be a way in)."""
        literal = _literal(host.strip("[]"))
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            addresses = await self._resolve(host)
        for address in addresses:
            kind = refusal(address, self.policy)
            if kind is not None and literal is not None:
                raise UnsafeWebhookUrl(f"{address} is {kind}")
            if kind is not None:
                raise UnsafeWebhookUrl(f"{host} resolves to {address}, {kind}")
        return str(addresses[0])

    async def _resolve(self, host: str) -> list[IPAddress]:
        if host == "localhost" or host.endswith(".localhost"):
            return [ipaddress.ip_address("127.0.0.1")]
        try:
            name = host.encode("idna").decode("ascii")
            found = await self._lookup(name)
        except (UnicodeError, DnsLookupError) as exc:
            raise UnsafeWebhookUrl(f"{host} does not resolve ({exc})") from None
        return [ipaddress.ip_address(a) for a in found]
