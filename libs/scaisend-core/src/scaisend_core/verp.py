"""VERP return paths: `bounces+<r|m><ulid>-<signature>@<bounce host>`.

A transaction with one recipient carries that recipient (`r`); one with several carries the
message (`m`) and the DSN's Final-Recipient names the address. Either way the inbound listener
maps a bounce back without a lookup table, and the signature stops anyone from forging bounces
for mail we never sent. Base32 keeps the local part case-insensitive, as some MTAs lowercase it."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from scaisend_core.crypto import Signer

LOCAL_PREFIX = "bounces+"
_TOKEN = re.compile(r"^bounces\+([rm])([0-9a-z]{26})-([a-z2-7]{13})$", re.IGNORECASE)
_KIND_PREFIX = {"r": "rcp_", "m": "msg_"}


@dataclass(frozen=True, slots=True)
class VerpAddress:
    kind: Literal["recipient", "message"]
    id: str  # rcp_… or msg_…
    host: str


class Verp:
    def __init__(self, secret_key: str, previous: Iterable[str] = ()) -> None:
        self._signer = Signer(secret_key, "verp")
        self._previous = [Signer(old, "verp") for old in previous]

    def address(self, entity_id: str, host: str) -> str:
        """Return path for a recipient id (rcp_…) or a message id (msg_…)."""
        prefix, _, ulid = entity_id.partition("_")
        kind = {"rcp": "r", "msg": "m"}.get(prefix)
        if kind is None or len(ulid) != 26:
            raise ValueError(f"VERP needs a rcp_ or msg_ id, got {entity_id!r}")
        token = kind + ulid.lower()
        return f"{LOCAL_PREFIX}{token}-{self._sign(token)}@{host.lower()}"

    def parse(self, address: str) -> VerpAddress | None:
        """What a return path points at, or None if it is not a genuine one of ours."""
        local, _, host = address.strip().strip("<>").rpartition("@")
        match = _TOKEN.match(local)
        if not match or not host:
            return None
        kind, ulid, signature = (g.lower() for g in match.groups())
        if signature not in {self._sign(kind + ulid, s) for s in (self._signer, *self._previous)}:
            return None
        return VerpAddress(
            kind="recipient" if kind == "r" else "message",
            id=_KIND_PREFIX[kind] + ulid.upper(),
            host=host.lower(),
        )

    def _sign(self, token: str, signer: Signer | None = None) -> str:
        raw = (signer or self._signer).sign(token.encode(), length=8)
        digest = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return base64.b32encode(digest).decode().rstrip("=").lower()
