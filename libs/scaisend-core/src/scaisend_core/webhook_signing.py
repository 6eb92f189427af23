"""Webhook signatures: Standard Webhooks HMAC for ScaiSend endpoints, SendGrid's ECDSA P-256 for
the Event Webhook. Both sign the exact body bytes that are sent.

Standard Webhooks (what the `standardwebhooks` package verifies):
    webhook-id: <event id>   webhook-timestamp: <unix s>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
    the key is the base64 part of the `whsec_<base64>` secret.
SendGrid (what `sendgrid.helpers.eventwebhook.EventWebhook` verifies):
    X-Twilio-Email-Event-Webhook-Timestamp: <unix s>
    X-Twilio-Email-Event-Webhook-Signature: base64 DER ECDSA-SHA256 over "<timestamp><body>"
    the public key is published as base64 DER SubjectPublicKeyInfo, without PEM armour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scaisend_core.errors import CryptoError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 24  # what Svix issues; the spec allows 24 to 64
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def secret_context(endpoint_id: str, column: str) -> str:
    """SecretBox associated data for an endpoint's encrypted column: a ciphertext copied to
    another row or column does not decrypt."""
    return f"webhook_endpoints:{endpoint_id}:{column}"


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise CryptoError("webhook signing secret must start with whsec_")
    encoded = secret[len(SECRET_PREFIX) :]
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: standard_signature(secret, msg_id, timestamp, body),
    }


@dataclass(frozen=True, slots=True)
class EcdsaKeyPair:
    private_pem: str  # PKCS#8 PEM; encrypt before storing
    public_key: str  # base64 DER SubjectPublicKeyInfo, as SendGrid's API returns it


def new_ecdsa_key_pair() -> EcdsaKeyPair:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return EcdsaKeyPair(pem.decode(), base64.b64encode(der).decode())


def load_ecdsa_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CryptoError("the Event Webhook signing key is not an EC key")
    return key


def sendgrid_headers(
    private_key: ec.EllipticCurvePrivateKey, timestamp: int, body: bytes
) -> dict[str, str]:
    signature = private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
        SENDGRID_TIMESTAMP: str(timestamp),
    }
