"""Signed tokens for /t/o (open), /t/c (click) and /t/u (unsubscribe) links.

A token carries the kind, message id and recipient id; a click token's signature also covers the
destination URL (passed as `?u=`), so the API verifies a link without any database lookup and a
token cannot be reused to redirect somewhere else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from scaisend_core.crypto import Signer, b64url_decode, b64url_encode

TokenKind = Literal["o", "c", "u"]
_KINDS = ("o", "c", "u")


@dataclass(frozen=True, slots=True)
class TrackingClaims:
    kind: TokenKind
    message_id: str
    recipient_id: str


class TrackingTokens:
    def __init__(self, secret_key: str, previous: Iterable[str] = ()) -> None:
        self._signer = Signer(secret_key, "tracking", previous)

    def make(self, kind: TokenKind, message_id: str, recipient_id: str, url: str = "") -> str:
        payload = f"{kind}|{message_id}|{recipient_id}"
        signature = self._signer.sign(f"{payload}|{url}".encode(), length=12)
        return f"{b64url_encode(payload.encode())}.{signature}"

    def read(self, token: str, kind: TokenKind, url: str = "") -> TrackingClaims | None:
        """The claims of a genuine token of this kind (and URL), else None."""
        encoded, _, signature = token.partition(".")
        try:
            payload = b64url_decode(encoded).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        parts = payload.split("|")
        if len(parts) != 3 or parts[0] != kind or parts[0] not in _KINDS:
            return None
        if not self._signer.verify(f"{payload}|{url}".encode(), signature, length=12):
            return None
        return TrackingClaims(kind=kind, message_id=parts[1], recipient_id=parts[2])
