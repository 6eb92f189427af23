"""The SSRF guard: which addresses and URLs webhooks may go to, with private targets refused
(the production default) or allowed (WEBHOOK_ALLOW_PRIVATE), names resolved through a lookup."""

from __future__ import annotations

import pytest

from scaisend_core.dns import DnsLookupError, Failure
from scaisend_core.webhook_urls import UnsafeWebhookUrl, UrlGuard, UrlPolicy

STRICT = UrlPolicy(allow_private=False, require_https=False)
LENIENT = UrlPolicy(allow_private=True, require_https=False)
PRODUCTION = UrlPolicy(allow_private=False, require_https=True)
RECORDS = {"public.test": ["93.184.216.34"], "private.test": ["10.0.0.7"]}


async def lookup(name: str) -> list[str]:
    if name not in RECORDS:
        raise DnsLookupError(name, "A", Failure.NXDOMAIN, "Domain name not found")
    return RECORDS[name]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/", "http://10.1.1.1/", "http://172.16.0.1/", "http://192.168.0.1/",
        "http://169.254.1.1/", "http://100.64.0.1/", "http://0.0.0.0/", "http://224.0.0.1/",
        "http://[::1]/", "http://[fe80::1]/", "http://[fd00::1]/", "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/", "http://private.test/",
    ],
)  # fmt: skip
async def test_private_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        await UrlGuard(STRICT, lookup).check(url)


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fd00:ec2::254]/"])
async def test_metadata_addresses_are_refused_even_when_private_targets_are_allowed(
    url: str,
) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="cloud metadata"):
        await UrlGuard(LENIENT, lookup).check(url)


async def test_private_targets_pass_when_allowed() -> None:
    assert await UrlGuard(LENIENT, lookup).check("http://127.0.0.1:9000/hook") == "127.0.0.1"
    assert await UrlGuard(LENIENT, lookup).check("http://private.test/") == "10.0.0.7"


async def test_a_public_name_passes_and_reports_its_address() -> None:
    assert await UrlGuard(PRODUCTION, lookup).check("https://public.test/hook") == "93.184.216.34"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://public.test/", "URL scheme must be http or https"),
        ("http://public.test/", "URL must use HTTPS in production"),
        ("https:///path", "URL has no host"),
        ("https://public.test:99999/", "URL is not valid: Port out of range 0-65535"),
        ("https://unknown.test/", "unknown.test does not resolve (A unknown.test: Domain name not found)"),
        ("https://public.test/" + "a" * 2048, "URL is longer than 2048 characters"),
    ],
)  # fmt: skip
async def test_malformed_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await UrlGuard(PRODUCTION, lookup).check(url)
    assert refused.value.reason == reason


def test_the_static_check_refuses_literal_addresses_without_dns() -> None:
    guard = UrlGuard(STRICT, lookup)
    guard.check_static("http://private.test/")  # names wait for the connection
    with pytest.raises(UnsafeWebhookUrl, match=r"10\.0\.0\.7 is a loopback"):
        guard.check_static("http://10.0.0.7/")
