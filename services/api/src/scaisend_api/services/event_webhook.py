"""SendGrid's single-URL Event Webhook: the settings object (one switch per event type), signing
on or off (an ECDSA P-256 key pair per tenant; the public key is returned as SendGrid does), and
the test button, which posts one sample event of each type to a URL and reports what it said."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_api.schemas.webhooks import (
    EventWebhookSettings,
    EventWebhookTest,
    EventWebhookUpdate,
    SignedSettingsOut,
)
from scaisend_api.services.webhooks import apply_oauth, check_url
from scaisend_core.config import CoreSettings
from scaisend_core.crypto import SecretBox
from scaisend_core.dns import open_resolver
from scaisend_core.errors import ValidationFailed
from scaisend_core.ids import new_id
from scaisend_core.models import EndpointKind, WebhookEndpoint
from scaisend_core.repositories import webhooks as repo
from scaisend_core.webhook_payloads import (
    JSON,
    SENDGRID_USER_AGENT,
    sendgrid_body,
    sendgrid_sample_events,
)
from scaisend_core.webhook_sender import OAuthCredentials, WebhookSender
from scaisend_core.webhook_signing import (
    load_ecdsa_private_key,
    new_ecdsa_key_pair,
    secret_context,
    sendgrid_headers,
)
from scaisend_core.webhook_urls import UrlGuard, UrlPolicy

# SendGrid's setting names; `blocked` events follow `bounce` (a block is a bounce there).
SETTINGS = (
    "processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
    "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
)  # fmt: skip
TEST_TIMEOUT = 10.0  # the test button answers while the caller waits


def present(row: WebhookEndpoint | None) -> EventWebhookSettings:
    enabled = set(row.enabled_events) if row is not None else set()
    return EventWebhookSettings(
        enabled=bool(row and row.enabled and row.disabled_at is None and row.url),
        url=row.url if row is not None else "",
        oauth_client_id=(row.oauth_client_id if row is not None else None) or "",
        oauth_token_url=(row.oauth_token_url if row is not None else None) or "",
        **{name: name in enabled for name in SETTINGS},
    )


async def get_settings(session: AsyncSession, tenant_id: str) -> EventWebhookSettings:
    return present(await repo.get_event_webhook(session, tenant_id))


async def _row(session: AsyncSession, tenant_id: str) -> WebhookEndpoint:
    """The tenant's settings row, made (disabled, no URL) the first time it is written."""
    row = await repo.get_event_webhook(session, tenant_id, for_update=True)
    if row is None:
        row = WebhookEndpoint(
            id=new_id("wh"), tenant_id=tenant_id, kind=EndpointKind.SENDGRID, url="",
            enabled=False, enabled_events=[],
        )  # fmt: skip
    return row


async def update_settings(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    body: EventWebhookUpdate,
) -> EventWebhookSettings:
    row = await _row(session, tenant_id)
    if body.url is not None and body.url.strip() != row.url:
        row.url = await check_url(settings, body.url) if body.url.strip() else ""
    switches = {name: getattr(body, name) for name in SETTINGS}
    current = set(row.enabled_events)
    row.enabled_events = [
        name
        for name in SETTINGS
        if (switches[name] if switches[name] is not None else name in current)
    ]
    if body.enabled is not None:
        row.enabled = body.enabled
        if body.enabled:  # also clears an auto-disable
            row.disabled_at, row.failure_count = None, 0
    if row.enabled and not row.url:
        raise ValidationFailed.single("A url is required to enable the Event Webhook", "url")
    await apply_oauth(
        row, secrets, settings, body.oauth_client_id, body.oauth_client_secret, body.oauth_token_url
    )
    session.add(row)
    await session.commit()
    return present(row)


async def get_signed(session: AsyncSession, tenant_id: str) -> SignedSettingsOut:
    row = await repo.get_event_webhook(session, tenant_id)
    key = row.ecdsa_public_key if row is not None and row.signed else None
    return SignedSettingsOut(public_key=key or "")


async def update_signed(
    session: AsyncSession, secrets: SecretBox, tenant_id: str, enabled: bool
) -> SignedSettingsOut:
    """Turning signing on makes a key pair (kept while it stays on); turning it off deletes the
    pair, so turning it on again makes a new one, as SendGrid does."""
    row = await _row(session, tenant_id)
    if enabled and not (row.signed and row.ecdsa_private_key):
        pair = new_ecdsa_key_pair()
        context = secret_context(row.id, "ecdsa_private_key")
        row.ecdsa_private_key = secrets.encrypt(pair.private_pem, context=context)
        row.ecdsa_public_key = pair.public_key
    if not enabled:
        row.ecdsa_private_key = row.ecdsa_public_key = None
    row.signed = enabled
    session.add(row)
    await session.commit()
    return SignedSettingsOut(public_key=row.ecdsa_public_key or "")


def _test_headers(
    secrets: SecretBox, row: WebhookEndpoint | None, body: bytes, now: datetime
) -> dict[str, str]:
    headers = {"Content-Type": JSON, "User-Agent": SENDGRID_USER_AGENT}
    if row is not None and row.signed and row.ecdsa_private_key:
        context = secret_context(row.id, "ecdsa_private_key")
        key = load_ecdsa_private_key(secrets.decrypt_text(row.ecdsa_private_key, context=context))
        headers |= sendgrid_headers(key, int(now.timestamp()), body)
    return headers


def _test_oauth(body: EventWebhookTest) -> OAuthCredentials | None:
    token_url, client_id, client_secret = (
        body.oauth_token_url,
        body.oauth_client_id,
        body.oauth_client_secret,
    )
    if not (token_url or client_id or client_secret):
        return None
    if not (token_url and client_id and client_secret):
        raise ValidationFailed.single(
            "oauth_client_id, oauth_client_secret and oauth_token_url are required together",
            "oauth_client_id",
        )
    return OAuthCredentials(token_url, client_id, client_secret)


async def send_test(
    session: AsyncSession,
    secrets: SecretBox,
    settings: CoreSettings,
    tenant_id: str,
    body: EventWebhookTest,
    now: datetime,
) -> None:
    """Post the sample array (signed when signing is on); a non-2xx answer is a 400 that says
    what the URL answered."""
    url = await check_url(settings, body.url)
    oauth = _test_oauth(body)
    if oauth is not None:
        await check_url(settings, oauth.token_url, "oauth_token_url")
    payload = sendgrid_body(sendgrid_sample_events(now))
    headers = _test_headers(secrets, await repo.get_event_webhook(session, tenant_id), payload, now)
    async with open_resolver(settings) as resolver:
        guard = UrlGuard.for_resolver(UrlPolicy.from_settings(settings), resolver)
        sender = WebhookSender(guard, timeout=TEST_TIMEOUT, max_connections=2)
        try:
            result = await sender.post(url, payload, headers, oauth)
        finally:
            await sender.aclose()
    if not result.ok:
        said = result.error or f"HTTP {result.status_code}"
        raise ValidationFailed.single(f"The test events were not accepted: {said}", "url")
