"""POST /api/admin/domains/{id}/verify against the loopback DNS server: which records pass,
which fail and why, and what `verified` becomes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import select

from scaisend_api.settings import ApiSettings
from scaisend_core.db import SessionFactory
from scaisend_core.dkim_keys import generate_rsa, record_value
from scaisend_core.models import SenderDomain
from scaisend_core.repositories.sender_domains import sending_domain_for
from tests.api.domains_helpers import DOMAINS, create, publish, record, settings_with_dns, verify
from tests.fixtures.dns import Zone
from tests.fixtures.factories import KeyFixture

HOST = "mail.example.test"


@pytest.fixture
def api_settings(test_env: dict[str, str], dns_nameservers: list[str]) -> ApiSettings:
    return settings_with_dns(test_env, dns_nameservers)


@pytest.fixture
async def domain(client: httpx.AsyncClient, api_key: KeyFixture) -> dict[str, Any]:
    return await create(client, api_key.headers, domain=HOST)


def errors_by_record(result: dict[str, Any]) -> dict[str, str]:
    return {e["record"]: e["message"] for e in result["errors"]}


async def test_all_records_published_verifies_the_domain(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    publish(dns, domain)

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is True
    assert result["errors"] == []
    assert all(r["valid"] is True and r["reason"] is None for r in result["dns_records"])
    assert all(r["checked_at"] == result["checked_at"] for r in result["dns_records"])
    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
        assert row.verified is True
        assert row.verified_at is not None
        assert await sending_domain_for(session, row.tenant_id, f"hello@{HOST}") is not None


async def test_the_check_results_are_returned_by_get_afterwards(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf")
    result = await verify(client, api_key.headers, domain["id"])

    fetched = (await client.get(f"{DOMAINS}/{domain['id']}", headers=api_key.headers)).json()

    assert fetched["data"]["dns_records"] == result["dns_records"]
    assert fetched["data"]["last_checked_at"] == result["checked_at"]


async def test_a_dkim_record_with_another_key_fails_naming_the_dkim_record(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "spf", "dmarc", "return_path")
    dns.txt(f"scaisend._domainkey.{HOST}", record_value("rsa-sha256", generate_rsa().public_b64))

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is False
    assert errors_by_record(result) == {
        "dkim": f"The public key at scaisend._domainkey.{HOST} does not match this domain's DKIM key"
    }


async def test_a_missing_dkim_record_fails(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "spf", "dmarc")
    result = await verify(client, api_key.headers, domain["id"])
    assert errors_by_record(result) == {
        "dkim": f"No TXT record found at scaisend._domainkey.{HOST}"
    }


async def test_a_missing_dmarc_record_fails_naming_the_dmarc_record(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf")

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is False
    assert errors_by_record(result) == {"dmarc": f"No TXT record found at _dmarc.{HOST}"}


async def test_a_txt_at_dmarc_host_that_is_not_dmarc_fails(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf")
    dns.txt(f"_dmarc.{HOST}", "google-site-verification=abc")
    result = await verify(client, api_key.headers, domain["id"])
    assert errors_by_record(result) == {
        "dmarc": f"No DMARC record (v=DMARC1) found at _dmarc.{HOST}"
    }


async def test_a_stricter_dmarc_policy_than_suggested_still_passes(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf")
    dns.txt(f"_dmarc.{HOST}", "v=DMARC1; p=reject; adkim=s")
    assert (await verify(client, api_key.headers, domain["id"]))["verified"] is True


async def test_spf_without_our_include_fails_naming_the_spf_record(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "dmarc")
    dns.txt(HOST, "v=spf1 include:_spf.google.com ~all")

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is False
    assert errors_by_record(result) == {
        "spf": f"The SPF record at {HOST} does not include:bounces.scaisend.test"
    }


async def test_spf_with_our_include_among_others_passes(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "dmarc")
    dns.txt(HOST, "v=spf1 ip4:192.0.2.1 include:_spf.google.com include:bounces.scaisend.test -all",
            "some-other-verification=1")  # fmt: skip
    assert (await verify(client, api_key.headers, domain["id"]))["verified"] is True


async def test_two_spf_records_fail_as_an_rfc_7208_permerror(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "dmarc")
    dns.txt(HOST, "v=spf1 include:bounces.scaisend.test ~all", "v=spf1 -all")
    result = await verify(client, api_key.headers, domain["id"])
    assert errors_by_record(result) == {
        "spf": f"{HOST} has 2 SPF records; RFC 7208 allows one (permerror)"
    }


async def test_the_return_path_record_is_advisory(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf", "dmarc")

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is True
    assert result["errors"] == []
    return_path = record(result, "return_path")
    assert return_path["valid"] is False
    assert return_path["reason"] == f"No MX record found at bounces.{HOST}"


async def test_a_return_path_cname_to_the_inbound_host_passes(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf", "dmarc")
    dns.cname(f"bounces.{HOST}", "bounces.scaisend.test")
    dns.mx("bounces.scaisend.test", (10, "mx.scaisend.test"))

    result = await verify(client, api_key.headers, domain["id"])

    assert record(result, "return_path")["valid"] is True


async def test_verification_is_idempotent_and_passes_once_dns_is_fixed(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone
) -> None:
    publish(dns, domain, "dkim", "spf")
    first = await verify(client, api_key.headers, domain["id"])
    publish(dns, domain, "dmarc")

    second = await verify(client, api_key.headers, domain["id"])
    third = await verify(client, api_key.headers, domain["id"])

    assert (first["verified"], second["verified"], third["verified"]) == (False, True, True)


async def test_a_verified_domain_whose_records_disappear_is_unverified_on_the_next_check(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    publish(dns, domain)
    await verify(client, api_key.headers, domain["id"])
    dns.remove(f"scaisend._domainkey.{HOST}")

    result = await verify(client, api_key.headers, domain["id"])

    assert result["verified"] is False
    assert set(errors_by_record(result)) == {"dkim"}
    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
        assert await sending_domain_for(session, row.tenant_id, f"hello@{HOST}") is None


async def test_a_deactivated_verified_domain_no_longer_authorises_sends(
    client: httpx.AsyncClient, api_key: KeyFixture, domain: dict[str, Any], dns: Zone,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    publish(dns, domain)
    await verify(client, api_key.headers, domain["id"])

    await client.patch(
        f"{DOMAINS}/{domain['id']}", json={"is_active": False}, headers=api_key.headers
    )

    async with sessions() as session:
        row = (await session.exec(select(SenderDomain))).one()
        assert row.verified is True
        assert await sending_domain_for(session, row.tenant_id, f"hello@{HOST}") is None


async def test_a_verified_parent_domain_does_not_authorise_a_subdomain(
    client: httpx.AsyncClient, api_key: KeyFixture, dns: Zone, sessions: SessionFactory
) -> None:
    parent = await create(client, api_key.headers, domain="example.test")
    publish(dns, parent)
    assert (await verify(client, api_key.headers, parent["id"]))["verified"] is True

    async with sessions() as session:
        tenant_id = (await session.exec(select(SenderDomain.tenant_id))).one()
        assert await sending_domain_for(session, tenant_id, "a@example.test") is not None
        assert await sending_domain_for(session, tenant_id, "a@mail.example.test") is None
