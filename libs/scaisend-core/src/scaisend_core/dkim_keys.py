"""DKIM key pairs (RSA-2048, Ed25519), their sealed storage form and the TXT values that
publish them (RFC 6376 §3.6.1, RFC 8463)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from scaisend_core.crypto import SecretBox

RSA_BITS = 2048
PRIMARY_SELECTOR = "scaisend"
ROTATED_SELECTOR = "scaisend2"
ED25519_SELECTOR = "scaisend-ed25519"

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class KeyPair:
    algorithm: Algorithm
    private_pem: bytes  # PKCS#8, unencrypted: never stored or logged as is
    public_b64: str  # the record's p= value


@dataclass(frozen=True, slots=True)
class SealedKey:
    """A key ready for a sender_domains row: the private half encrypted for that row."""

    selector: str
    algorithm: Algorithm
    private_ciphertext: str
    public_b64: str


def generate_rsa() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    # p= is the DER SubjectPublicKeyInfo, base64 (RFC 6376 §3.6.1).
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair("rsa-sha256", _pkcs8(key), base64.b64encode(der).decode())


def generate_ed25519() -> KeyPair:
    key = ed25519.Ed25519PrivateKey.generate()
    # RFC 8463: p= is the raw 32-byte public key, base64.
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyPair("ed25519-sha256", _pkcs8(key), base64.b64encode(raw).decode())


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def generate_sealed(
    secrets: SecretBox, domain_id: str, selector: str, algorithm: Algorithm = "rsa-sha256"
) -> SealedKey:
    """A fresh key encrypted with the row id as context (so it cannot be moved to another
    row). RSA generation takes tens of milliseconds, so it runs off the event loop."""
    generate = generate_rsa if algorithm == "rsa-sha256" else generate_ed25519
    pair = await asyncio.to_thread(generate)
    return SealedKey(
        selector=selector,
        algorithm=pair.algorithm,
        private_ciphertext=secrets.encrypt(pair.private_pem, context=domain_id),
        public_b64=pair.public_b64,
    )


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"unsupported DKIM key type {type(key).__name__}")
    return key


def record_value(algorithm: str, public_b64: str) -> str:
    """The TXT value to publish at `<selector>._domainkey.<domain>`."""
    kind = "ed25519" if algorithm.startswith("ed25519") else "rsa"
    return f"v=DKIM1; k={kind}; p={public_b64}"


def record_host(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def next_selector(current: str) -> str:
    """Rotation alternates between two selectors, so the retiring key's record stays in DNS
    (and valid) while the new one propagates."""
    return ROTATED_SELECTOR if current == PRIMARY_SELECTOR else PRIMARY_SELECTOR


def public_key_matches(published: str, expected_b64: str) -> bool:
    """Compare p= values; DNS providers split and space long values, so whitespace is noise."""
    return "".join(published.split()) == "".join(expected_b64.split())
