"""Where and how to post for one endpoint: its URL, decrypted signing material and OAuth
credentials, read once per claim (so a rotated secret is used from the next claim on)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from scaisend_core.crypto import SecretBox
from scaisend_core.models import WebhookEndpoint
from scaisend_core.webhook_sender import OAuthCredentials
from scaisend_core.webhook_signing import load_ecdsa_private_key, secret_context


@dataclass(frozen=True, slots=True)
class Target:
    endpoint_id: str
    url: str
    signing_secret: str | None  # whsec_… (ScaiSend endpoints)
    private_key: ec.EllipticCurvePrivateKey | None  # Event Webhook with signing on
    oauth: OAuthCredentials | None


def _decrypt(secrets: SecretBox, endpoint: WebhookEndpoint, column: str) -> str | None:
    token = getattr(endpoint, column)
    if not token:
        return None
    return secrets.decrypt_text(token, context=secret_context(endpoint.id, column))


def target_for(secrets: SecretBox, endpoint: WebhookEndpoint) -> Target:
    oauth = None
    client_secret = _decrypt(secrets, endpoint, "oauth_client_secret")
    if endpoint.oauth_client_id and endpoint.oauth_token_url and client_secret:
        oauth = OAuthCredentials(endpoint.oauth_token_url, endpoint.oauth_client_id, client_secret)
    private_pem = _decrypt(secrets, endpoint, "ecdsa_private_key") if endpoint.signed else None
    return Target(
        endpoint_id=endpoint.id,
        url=endpoint.url,
        signing_secret=_decrypt(secrets, endpoint, "signing_secret"),
        private_key=load_ecdsa_private_key(private_pem) if private_pem else None,
        oauth=oauth,
    )
