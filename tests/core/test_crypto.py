"""Secrets at rest: round trip, tamper detection, row binding and key rotation."""

from __future__ import annotations

import pytest

from scaisend_core.crypto import SecretBox, Signer
from scaisend_core.errors import CryptoError

KEY = "k" * 40
OTHER = "o" * 40


def test_round_trip_returns_the_plaintext() -> None:
    box = SecretBox(KEY)
    token = box.encrypt("-----BEGIN PRIVATE KEY-----", context="dom_1")
    assert "BEGIN" not in token
    assert box.decrypt_text(token, context="dom_1") == "-----BEGIN PRIVATE KEY-----"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    box = SecretBox(KEY)
    assert box.encrypt("same") != box.encrypt("same")


def test_tampered_ciphertext_is_an_error_not_garbage() -> None:
    box = SecretBox(KEY)
    token = box.encrypt("whsec_abc")
    head, body = token.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(CryptoError, match="authentication"):
        box.decrypt(f"{head}.{flipped}")


def test_ciphertext_is_bound_to_its_context() -> None:
    box = SecretBox(KEY)
    token = box.encrypt("secret", context="dom_1")
    with pytest.raises(CryptoError):
        box.decrypt(token, context="dom_2")


def test_wrong_key_and_malformed_input_are_errors() -> None:
    token = SecretBox(KEY).encrypt("secret")
    with pytest.raises(CryptoError, match="unknown key"):
        SecretBox(OTHER).decrypt(token)
    with pytest.raises(CryptoError, match="malformed"):
        SecretBox(KEY).decrypt("not-a-token")


def test_rotation_decrypts_old_rows_and_reencrypts_under_the_new_key() -> None:
    old_token = SecretBox(OTHER).encrypt("dkim-key")
    rotated = SecretBox(KEY, previous=[OTHER])
    assert rotated.decrypt_text(old_token) == "dkim-key"
    assert rotated.needs_reencrypt(old_token)
    fresh = rotated.reencrypt(old_token)
    assert not rotated.needs_reencrypt(fresh)
    assert SecretBox(KEY).decrypt_text(fresh) == "dkim-key"


def test_signer_verifies_its_own_signatures_only() -> None:
    signer = Signer(KEY, "tracking")
    signature = signer.sign(b"msg_1|rcp_1")
    assert signer.verify(b"msg_1|rcp_1", signature)
    assert not signer.verify(b"msg_1|rcp_2", signature)
    assert not Signer(KEY, "verp").verify(b"msg_1|rcp_1", signature)


def test_signer_accepts_signatures_from_the_previous_key_after_rotation() -> None:
    old = Signer(OTHER, "tracking").sign(b"msg_1")
    rotated = Signer(KEY, "tracking", previous=[OTHER])
    assert rotated.verify(b"msg_1", old)
    assert rotated.sign(b"msg_1") != old
    assert not Signer(KEY, "tracking").verify(b"msg_1", old)
