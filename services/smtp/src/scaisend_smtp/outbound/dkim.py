"""DKIM signatures (RFC 6376, relaxed/relaxed; RFC 8463 for Ed25519) over a rendered message.

Canonicalisation, header selection and folding are dkimpy's own functions; only the
private-key step goes through `cryptography`, because dkimpy's RSA is pure Python (about 26x
slower) and it re-parses the PEM on every call. PKCS#1 v1.5 is deterministic, so the bytes are
what dkimpy would produce; tests verify every signature with dkimpy."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

import dkim
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim import canonicalization
from dkim.canonicalization import CanonicalizationPolicy

from scaisend_core.signing import DkimKey, SigningMaterial

CANONICALIZATION = b"relaxed/relaxed"
_POLICY = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
# The docs' list, then headers whose tampering matters as much: Cc and Reply-To, and the
# List-Unsubscribe pair that RFC 8058 requires to be signed for one-click unsubscribe.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"cc", b"reply-to", b"list-unsubscribe", b"list-unsubscribe-post",
)  # fmt: skip
_SIGNED = frozenset(SIGNED_HEADERS)
HEADER_NAME = b"DKIM-Signature"
B64_LINE = 72
_LINE_END = re.compile(rb"\r\n|\r|\n")
_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")
# Runs of WSP that compression changes: any run with a tab, or two or more characters.
# dkimpy's `[\t ]+` -> " " also "replaces" every single space by itself, which is most of
# the cost on prose; skipping those matches gives the same bytes.
_WSP_RUN = re.compile(rb"\t[\t ]*| [\t ]+")


def sign(message: bytes, material: SigningMaterial, timestamp: int) -> bytes:
    """DKIM-Signature header lines (CRLF-terminated) to put in front of `message`, which must
    have CRLF line endings (crlf())."""
    head, _, body = message.partition(b"\r\n\r\n")
    # Parse only the header section: the body is already CRLF text (see crlf()), so splitting
    # it into lines and joining them again, as rfc822_parse would, is wasted work.
    headers, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
    # Only signed fields are canonicalised; selection among same-named fields is unaffected.
    signed = [(name, value) for name, value in headers if name.lower() in _SIGNED]
    present = {name.lower() for name, _ in signed}
    # From is listed once more than it occurs, so nobody can add a second From unnoticed.
    include = [h for h in SIGNED_HEADERS if h in present] + [b"from"]
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
    canonical = _POLICY.canonicalize_headers(signed)
    domain = material.domain.encode()
    return b"".join(
        _signature(key, domain, include, canonical, body_hash, timestamp) for key in material.keys
    )


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 relaxed body, step for step dkimpy's Relaxed.canonicalize_body (a test
    compares them on awkward inputs), with the whitespace steps written to skip no-op
    replacements; the trailing-line steps are dkimpy's own functions."""
    compressed = body
    # Both scans are skipped when a substring search proves they would change nothing, as
    # for most encoded MIME bodies (no tabs, no double spaces, no space before a line end).
    if b" \r\n" in compressed or b"\t" in compressed:
        compressed = _TRAILING_WSP.sub(b"\r\n", compressed)
    if b"  " in compressed or b"\t" in compressed:
        compressed = _WSP_RUN.sub(b" ", compressed)
    canonical: bytes = canonicalization.correct_empty_body(
        canonicalization.strip_trailing_lines(compressed)
    )
    return canonical


def crlf(message: bytes) -> bytes:
    """Line endings as SMTP sends them (aiosmtplib turns lone LF/CR into CRLF); signing must
    see the same bytes the receiver will."""
    if message.count(b"\n") == message.count(b"\r\n") == message.count(b"\r"):
        return message
    return _LINE_END.sub(b"\r\n", message)


def _signature(
    key: DkimKey,
    domain: bytes,
    include: Sequence[bytes],
    canonical_headers: list[tuple[bytes, bytes]],
    body_hash: bytes,
    timestamp: int,
) -> bytes:
    tags = [
        (b"v", b"1"),
        (b"a", key.algorithm.encode()),
        (b"c", CANONICALIZATION),
        (b"d", domain),
        (b"s", key.selector.encode()),
        (b"t", str(timestamp).encode()),
        (b"h", b" : ".join(include)),  # spaces let fold() break between names
        (b"bh", body_hash),
    ]
    # Everything up to an empty b= is exactly what the verifier hashes (it strips b='s value),
    # so fold it first and never touch it again.
    prefix: bytes = dkim.fold(
        b"; ".join(b"=".join(t) for t in tags) + b"; b=", namelen=len(HEADER_NAME)
    )
    digest = hashlib.sha256()
    dkim.hash_headers(
        digest, _POLICY, canonical_headers, include, (HEADER_NAME, b" " + prefix), None
    )
    value = base64.b64encode(sign_digest(key, digest.digest()))
    lines = [value[i : i + B64_LINE] for i in range(0, len(value), B64_LINE)]
    return HEADER_NAME + b": " + prefix + b"\r\n " + b"\r\n ".join(lines) + b"\r\n"


def sign_digest(key: DkimKey, digest: bytes) -> bytes:
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(digest)  # RFC 8463: Ed25519 over the SHA-256 of the headers
    raise TypeError(f"unsupported DKIM key {type(private).__name__}")
