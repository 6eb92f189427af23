"""DKIM signing: dkimpy's canonicalisation with the RSA/Ed25519 step through `cryptography`;
every signature is checked by dkimpy itself."""

from __future__ import annotations

import hashlib

import dkim
import pytest
from dkim import crypto as dkim_crypto
from dkim.canonicalization import CanonicalizationPolicy

from scaisend_core import dkim_keys
from scaisend_core.signing import DkimKey, SigningMaterial
from scaisend_smtp.outbound.dkim import crlf, relaxed_body, sign, sign_digest
from tests.fixtures.rendered import build_mime

RSA = dkim_keys.generate_rsa()
ED = dkim_keys.generate_ed25519()
RECORDS = {
    b"scaisend._domainkey.example.test.": dkim_keys.record_value("rsa-sha256", RSA.public_b64),
    b"ed._domainkey.example.test.": dkim_keys.record_value("ed25519-sha256", ED.public_b64),
}


def lookup(name: bytes, timeout: int = 5) -> bytes | None:
    value = RECORDS.get(name)
    return value.encode() if value else None


def material(*keys: tuple[str, dkim_keys.KeyPair]) -> SigningMaterial:
    return SigningMaterial(
        "dom_x",
        "example.test",
        tuple(
            DkimKey(selector, pair.algorithm, dkim_keys.load_private_key(pair.private_pem))
            for selector, pair in keys
        ),
    )


MESSAGE = crlf(
    build_mime(
        "msg_1",
        "a@example.test",
        ["b@inbox.test"],
        ["c@inbox.test"],
        "Grüße  aus\tKöln",
        "line one  \nline\ttwo\n\n\n",
        "<p>hi</p>",
    )
)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"a  b\t\tc \t d\r\n",
        b"trailing \t \r\nspaces   \r\n\r\n\r\n",
        b"no final newline  ",
        b" \t leading\r\n\t\r\n",
        b"single spaces only here\r\n",
    ],
)
def test_relaxed_body_is_dkimpys_relaxed_body(body: bytes) -> None:
    expected = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed").canonicalize_body(body)
    assert relaxed_body(body) == expected


def test_an_rsa_signature_verifies_with_dkimpy() -> None:
    signed = sign(MESSAGE, material(("scaisend", RSA)), 1_700_000_000) + MESSAGE
    assert dkim.verify(signed, dnsfunc=lookup) is True


def test_the_rsa_step_is_byte_identical_to_dkimpys_pure_python_rsa() -> None:
    """PKCS#1 v1.5 is deterministic: `cryptography` and dkimpy's own RSA give the same bytes."""
    digest = hashlib.sha256(b"canonical headers")
    key = material(("scaisend", RSA)).keys[0]
    ours = sign_digest(key, digest.digest())
    theirs = dkim_crypto.RSASSA_PKCS1_v1_5_sign(
        digest, dkim_crypto.parse_pem_private_key(RSA.private_pem)
    )
    assert ours == theirs


def test_dual_signatures_both_verify() -> None:
    signed = sign(MESSAGE, material(("scaisend", RSA), ("ed", ED)), 1_700_000_000) + MESSAGE
    parsed = dkim.DKIM(signed)
    assert parsed.verify(idx=0, dnsfunc=lookup) is True
    assert parsed.verify(idx=1, dnsfunc=lookup) is True


def test_a_second_from_header_added_later_breaks_the_signature() -> None:
    signed = sign(MESSAGE, material(("scaisend", RSA)), 1_700_000_000) + MESSAGE
    forged = signed.replace(b"\r\nSubject:", b"\r\nFrom: ceo@example.test\r\nSubject:", 1)
    assert dkim.verify(forged, dnsfunc=lookup) is False


def test_bare_lf_messages_are_normalised_before_signing() -> None:
    lf = MESSAGE.replace(b"\r\n", b"\n")
    normalised = crlf(lf)
    assert normalised == MESSAGE
    signed = sign(normalised, material(("scaisend", RSA)), 1_700_000_000) + normalised
    assert dkim.verify(signed, dnsfunc=lookup) is True
