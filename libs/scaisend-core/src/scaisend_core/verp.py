"""VERP return paths: `bounces+<recipient ulid>-<signature>@<bounce host>`.

The inbound listener maps a DSN's envelope recipient back to the message recipient without a
lookup table, and the signature stops anyone from forging bounces for addresses we never sent to.
Base32 keeps the local part case-insensitive, as some MTAs lowercase it."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from scaisend_core.crypto import Signer

LOCAL_PREFIX = "bounces+"
_TOKEN = re.compile(r"^bounces\+([0-9a-z]{26})-([a-z2-7]{13})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class VerpAddress:
    recipient_id: str
    host: str


class Verp:
    def __init__(self, secret_key: str) -> None:
        self._signer = _Base32Signer(secret_key)

    def address(self, recipient_id: str, host: str) -> str:
        ulid = recipient_id.removeprefix("rcp_").lower()
        return f"{LOCAL_PREFIX}{ulid}-{self._signer.sign(ulid)}@{host}"

    def parse(self, address: str) -> VerpAddress | None:
        """The recipient a return path belongs to, or None if it is not one of ours."""
        local, _, host = address.strip().strip("<>").rpartition("@")
        match = _TOKEN.match(local)
        if not match or not host:
            return None
        ulid, signature = match.group(1).lower(), match.group(2).lower()
        if not self._signer.verify(ulid, signature):
            return None
        return VerpAddress(recipient_id=f"rcp_{ulid.upper()}", host=host.lower())


class _Base32Signer:
    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, "verp")

    def sign(self, value: str) -> str:
        raw = self._signer.sign(value.encode(), length=8)  # base64url of 8 bytes
        digest = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return base64.b32encode(digest).decode().rstrip("=").lower()

    def verify(self, value: str, signature: str) -> bool:
        return self.sign(value) == signature
