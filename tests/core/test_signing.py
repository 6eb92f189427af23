"""Signing material from core: decrypted once, cached, and replaced when the row's keys change."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from scaisend_core.crypto import SecretBox
from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.repositories import sender_domains as repo
from scaisend_core.signing import SigningKeys
from tests.fixtures.environment import TEST_SECRET_KEY

SECRETS = SecretBox(TEST_SECRET_KEY)


async def add(sessions: SessionFactory, tenant: Tenant, *, ed: bool = False) -> str:
    async with sessions() as session:
        row = await repo.create_domain(
            session, SECRETS, tenant_id=tenant.id, domain="example.test",
            return_path_host="bounces.example.test", ed25519=ed,
        )  # fmt: skip
        await session.commit()
        return row.id


async def test_material_is_the_rsa_key_under_the_current_selector(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    await add(sessions, tenant)
    async with sessions() as session:
        material = await SigningKeys(SECRETS).for_sender(session, tenant.id, "a@Example.TEST")
    assert material is not None
    assert material.domain == "example.test"
    assert [(k.selector, k.algorithm) for k in material.keys] == [("scaisend", "rsa-sha256")]
    assert isinstance(material.keys[0].private_key, rsa.RSAPrivateKey)
    assert "PRIVATE" not in repr(material)


async def test_an_unknown_domain_or_another_tenants_domain_has_no_material(
    sessions: SessionFactory, tenant: Tenant, tenant_factory: object
) -> None:
    await add(sessions, tenant)
    other = await tenant_factory("Other")  # type: ignore[operator]
    keys = SigningKeys(SECRETS)
    async with sessions() as session:
        assert await keys.for_sender(session, tenant.id, "a@other.test") is None
        assert await keys.for_sender(session, other.id, "a@example.test") is None


async def test_material_is_cached_until_the_row_changes(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    await add(sessions, tenant)
    keys = SigningKeys(SECRETS)
    async with sessions() as session:
        first = await keys.for_sender(session, tenant.id, "a@example.test")
        second = await keys.for_sender(session, tenant.id, "a@example.test")
        row = await repo.find_domain(session, tenant.id, "example.test")
        assert row is not None
        await repo.start_rotation(session, SECRETS, row)
        assert row.pending_selector is not None
        assert row.pending_private_key is not None
        row.dkim_selector, row.dkim_private_key = row.pending_selector, row.pending_private_key
        await session.commit()
        third = await keys.for_sender(session, tenant.id, "a@example.test")
    assert first is second
    assert third is not None
    assert third is not first
    assert third.keys[0].selector == "scaisend2"


async def test_ed25519_signs_only_once_its_record_verified(
    sessions: SessionFactory, tenant: Tenant
) -> None:
    await add(sessions, tenant, ed=True)
    keys = SigningKeys(SECRETS)
    async with sessions() as session:
        before = await keys.for_sender(session, tenant.id, "a@example.test")
        row = await repo.find_domain(session, tenant.id, "example.test")
        assert row is not None
        row.dns_checks = {"dkim_ed25519": {"valid": True, "reason": None, "checked_at": "x"}}
        await session.commit()
        after = await keys.for_sender(session, tenant.id, "a@example.test")
    assert before is not None
    assert after is not None
    assert len(before.keys) == 1
    assert [(k.selector, k.algorithm) for k in after.keys] == [
        ("scaisend", "rsa-sha256"),
        ("scaisend-ed25519", "ed25519-sha256"),
    ]
    assert isinstance(after.keys[1].private_key, ed25519.Ed25519PrivateKey)
