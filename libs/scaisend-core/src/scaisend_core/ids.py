"""Identifiers: prefixed ULIDs (msg_, evt_, key_ …) and SendGrid-style `d-<32 hex>` template ids."""

from __future__ import annotations

import os
import re
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PREFIXES = frozenset(
    {
        "prt", "tnt", "usr", "grp", "rol", "key", "dom", "v", "img", "msg", "rcp", "att",
        "evt", "wh", "whd", "whb", "batch", "sup", "idem", "inb",
    }
)  # fmt: skip

_TEMPLATE_ID = re.compile(r"^d-[0-9a-f]{32}$")


def ulid() -> str:
    """A 26-character ULID: 48-bit millisecond time then 80 random bits, sortable by time."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ulid()}"


def new_template_id() -> str:
    return "d-" + uuid.uuid4().hex


def is_dynamic_template_id(value: str) -> bool:
    return bool(_TEMPLATE_ID.match(value))
