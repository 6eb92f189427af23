"""Secrets at rest (AES-256-GCM, key derived from SECRET_KEY) and HMAC signing of public tokens.

Ciphertexts look like `v1.<key id>.<base64url(nonce || ciphertext || tag)>`. The key id names the
SECRET_KEY that encrypted it, so after a rotation (new SECRET_KEY, old one in SECRET_KEY_PREVIOUS)
old rows still decrypt and `reencrypt` can move them to the new key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from scaisend_core.errors import CryptoError

_VERSION = "v1"
_NONCE_BYTES = 12


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"scaisend", info=purpose).derive(
        secret.encode()
    )


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Authenticated encryption of small secrets (DKIM keys, webhook secrets, OAuth secrets)."""

    def __init__(self, secret_key: str, previous: Iterable[str] = ()) -> None:
        self._keys: dict[str, AESGCM] = {}
        self._current = self._add(secret_key)
        for old in previous:
            self._add(old)

    def _add(self, secret: str) -> str:
        key = _derive(secret, b"secrets-at-rest-v1")
        key_id = hashlib.sha256(key).hexdigest()[:8]
        self._keys.setdefault(key_id, AESGCM(key))
        return key_id

    def encrypt(self, plaintext: str | bytes, *, context: str = "") -> str:
        """Encrypt; `context` (e.g. a row id) is bound as associated data against row swapping."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, data, context.encode())
        return f"{_VERSION}.{self._current}.{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str = "") -> bytes:
        try:
            version, key_id, body = token.split(".", 2)
            raw = _b64d(body)
        except ValueError as exc:
            raise CryptoError("ciphertext is malformed") from exc
        aead = self._keys.get(key_id)
        if version != _VERSION or aead is None:
            raise CryptoError("ciphertext was made with an unknown key or format")
        try:
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise CryptoError("ciphertext failed authentication (tampered or wrong key)") from exc

    def decrypt_text(self, token: str, *, context: str = "") -> str:
        return self.decrypt(token, context=context).decode()

    def needs_reencrypt(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self._current]

    def reencrypt(self, token: str, *, context: str = "") -> str:
        return self.encrypt(self.decrypt(token, context=context), context=context)


class Signer:
    """HMAC-SHA256 over public tokens (tracking links, VERP addresses) with a purpose-bound key.

    Signs with the current SECRET_KEY; also accepts signatures made with SECRET_KEY_PREVIOUS, so
    links in mail sent before a key rotation keep working."""

    def __init__(self, secret_key: str, purpose: str, previous: Iterable[str] = ()) -> None:
        label = b"signer:" + purpose.encode()
        self._key = _derive(secret_key, label)
        self._all_keys = [self._key, *(_derive(old, label) for old in previous)]

    def sign(self, payload: bytes, length: int = 16) -> str:
        return self._sign(self._key, payload, length)

    def verify(self, payload: bytes, signature: str, length: int = 16) -> bool:
        return any(
            hmac.compare_digest(self._sign(key, payload, length), signature)
            for key in self._all_keys
        )

    @staticmethod
    def _sign(key: bytes, payload: bytes, length: int) -> str:
        return _b64e(hmac.new(key, payload, hashlib.sha256).digest()[:length])


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


b64url_encode = _b64e
b64url_decode = _b64d
