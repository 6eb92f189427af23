"""VERP return paths round-trip, survive lowercasing, and refuse forgeries."""

from __future__ import annotations

import pytest

from scaisend_core.ids import new_id
from scaisend_core.verp import Verp

KEY = "v" * 40


@pytest.mark.parametrize("prefix", ["rcp", "msg"])
def test_address_round_trips_even_when_lowercased(prefix: str) -> None:
    verp = Verp(KEY)
    entity = new_id(prefix)
    address = verp.address(entity, "Bounce.Example.COM")
    parsed = verp.parse(address.upper())
    assert parsed is not None
    assert parsed.id == entity
    assert parsed.kind == ("recipient" if prefix == "rcp" else "message")
    assert parsed.host == "bounce.example.com"
    assert address.startswith("bounces+")
    assert len(address.split("@")[0]) <= 64  # RFC 5321 local-part limit


def test_forged_or_foreign_addresses_are_not_ours() -> None:
    verp = Verp(KEY)
    address = verp.address(new_id("rcp"), "b.example.com")
    local, host = address.split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + host
    assert verp.parse(tampered) is None
    assert Verp("w" * 40).parse(address) is None
    assert verp.parse("bounces@b.example.com") is None
    assert verp.parse("someone@example.com") is None


def test_only_recipient_or_message_ids_are_accepted() -> None:
    with pytest.raises(ValueError, match="rcp_ or msg_"):
        Verp(KEY).address(new_id("evt"), "b.example.com")


def test_addresses_from_before_a_key_rotation_still_parse() -> None:
    entity = new_id("rcp")
    address = Verp("w" * 40).address(entity, "b.example.com")
    rotated = Verp(KEY, previous=["w" * 40])
    parsed = rotated.parse(address)
    assert parsed is not None
    assert parsed.id == entity
