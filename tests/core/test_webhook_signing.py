"""Webhook signatures checked by the third-party verifiers: `standardwebhooks` for ScaiSend
endpoints, the official `sendgrid` package's EventWebhook for the Event Webhook."""

from __future__ import annotations

import time

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scaisend_core.webhook_signing import (
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    load_ecdsa_private_key,
    new_ecdsa_key_pair,
    new_signing_secret,
    sendgrid_headers,
    standard_headers,
)

BODY = b'{"event_id":"evt_1","event_type":"delivered","metadata":{"note":"caf\xc3\xa9"}}'


def test_standard_webhooks_verifies_the_headers() -> None:
    secret = new_signing_secret()
    headers = standard_headers(secret, "evt_1", int(time.time()), BODY)

    assert Webhook(secret).verify(BODY, headers)["event_id"] == "evt_1"


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    secret = new_signing_secret()
    headers = standard_headers(secret, "evt_1", int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"delivered", b"bounce"), headers)


def test_secrets_are_whsec_prefixed_base64_of_24_bytes() -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 32
    assert new_signing_secret() != secret


def test_sendgrids_verifier_accepts_the_ecdsa_signature() -> None:
    pair = new_ecdsa_key_pair()
    body = b'[{"event":"delivered","sg_event_id":"evt_1"},\r\n{"event":"open"}]\r\n'
    headers = sendgrid_headers(load_ecdsa_private_key(pair.private_pem), 1600112502, body)

    verifier = EventWebhook(pair.public_key)
    assert headers[SENDGRID_TIMESTAMP] == "1600112502"
    assert verifier.verify_signature(body.decode(), headers[SENDGRID_SIGNATURE], "1600112502")
    assert not verifier.verify_signature(body.decode(), headers[SENDGRID_SIGNATURE], "1600112503")


def test_the_public_key_is_base64_der_spki_on_p256() -> None:
    assert new_ecdsa_key_pair().public_key.startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
