"""Identifiers: prefixed ULIDs sort by creation time; dynamic template ids are d-<32 hex>."""

from __future__ import annotations

import re

import pytest

from scaisend_core.ids import is_dynamic_template_id, new_id, new_template_id, ulid


def test_prefixed_ids_have_the_prefix_and_a_26_char_ulid() -> None:
    value = new_id("msg")
    assert re.fullmatch(r"msg_[0-9A-HJKMNP-TV-Z]{26}", value)


def test_ulids_sort_by_time() -> None:
    first = ulid()
    later = [ulid() for _ in range(50)]
    assert all(first[:10] <= other[:10] for other in later)


def test_unknown_prefix_is_a_bug() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id("zzz")


def test_template_ids_match_sendgrid_dynamic_format() -> None:
    value = new_template_id()
    assert is_dynamic_template_id(value)
    assert not is_dynamic_template_id("d-abc")
    assert not is_dynamic_template_id("legacy-123")
