"""The aiodns resolver against the loopback DNS server: answers, and the three kinds of no."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scaisend_core.dns import DnsLookupError, Failure, MxRecord, Resolver
from tests.fixtures.dns import Zone
from tests.fixtures.storage import free_port


@pytest.fixture
async def resolver(dns_nameservers: list[str]) -> AsyncIterator[Resolver]:
    r = Resolver(dns_nameservers, timeout=1, tries=1)
    yield r
    await r.close()


async def test_mx_records_come_back_with_preferences(resolver: Resolver, dns: Zone) -> None:
    dns.mx("example.test", (20, "mx2.example.test."), (10, "MX1.example.test"))
    assert sorted(await resolver.mx("example.test"), key=lambda r: r.preference) == [
        MxRecord(10, "mx1.example.test"),
        MxRecord(20, "mx2.example.test"),
    ]


async def test_a_null_mx_has_an_empty_exchange(resolver: Resolver, dns: Zone) -> None:
    dns.mx("null.test", (0, "."))
    assert await resolver.mx("null.test") == [MxRecord(0, "")]


async def test_addresses_are_a_then_aaaa(resolver: Resolver, dns: Zone) -> None:
    dns.a("host.test", "127.0.0.2")
    dns.aaaa("host.test", "::1")
    assert await resolver.addresses("host.test") == ["127.0.0.2", "::1"]


async def test_long_txt_strings_are_joined(resolver: Resolver, dns: Zone) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns.txt("s._domainkey.example.test", value)
    assert await resolver.txt("s._domainkey.example.test") == [value]


async def test_cname_target_is_returned(resolver: Resolver, dns: Zone) -> None:
    dns.cname("alias.test", "Target.Test.")
    assert await resolver.cname("alias.test") == "target.test"


async def test_unknown_name_is_nxdomain(resolver: Resolver, dns: Zone) -> None:
    with pytest.raises(DnsLookupError) as caught:
        await resolver.mx("nowhere.test")
    assert caught.value.failure == Failure.NXDOMAIN
    assert caught.value.permanent


async def test_existing_name_without_that_type_is_nodata(resolver: Resolver, dns: Zone) -> None:
    dns.a("host.test", "127.0.0.2")
    with pytest.raises(DnsLookupError) as caught:
        await resolver.mx("host.test")
    assert caught.value.failure == Failure.NODATA


async def test_an_unreachable_server_is_a_temporary_failure() -> None:
    silent = Resolver([f"127.0.0.1:{free_port()}"], timeout=0.2, tries=1)
    try:
        with pytest.raises(DnsLookupError) as caught:
            await silent.txt("example.test")
    finally:
        await silent.close()
    assert caught.value.failure == Failure.TEMPORARY
    assert not caught.value.permanent
