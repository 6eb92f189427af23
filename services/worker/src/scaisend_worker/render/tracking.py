"""Open, click and subscription tracking and Google Analytics parameters (concepts-tracking,
sendgrid-v3 §2.1), with the tenant's defaults deep-merged under the request's settings.

One MIME is built per message, and a message may have several recipients (to, cc, bcc); its
tracking tokens carry the first `to` recipient, so an open or click is attributed to that
recipient. Links are signed, so the /t/* endpoints verify them without a lookup."""

from __future__ import annotations

import functools
import html
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from scaisend_core.models import TenantSettings
from scaisend_core.tracking_tokens import TrackingTokens
from scaisend_worker.render import html_edit
from scaisend_worker.render.content import Content

DEFAULT_SUBSCRIPTION_TEXT = (
    "If you would like to unsubscribe and stop receiving these emails click here: <% %>."
)
DEFAULT_SUBSCRIPTION_HTML = (
    "<p>If you would like to unsubscribe and stop receiving these emails <% click here %>.</p>"
)
PIXEL = (
    '<img src="{src}" alt="" width="1" height="1" border="0" style="height:1px !important;'
    'width:1px !important;border-width:0 !important;margin:0 !important;padding:0 !important;"/>'
)
UTM_KEYS = ("utm_source", "utm_medium", "utm_term", "utm_content", "utm_campaign")
_LINK_TAG = re.compile(r"<%(.*?)%>", re.DOTALL)  # SendGrid's `<% link text %>` marker
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"


class _Setting(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    enable: bool = False


class ClickTracking(_Setting):
    enable_text: bool = False


class OpenTracking(_Setting):
    substitution_tag: str | None = None


class SubscriptionTracking(_Setting):
    text: str | None = None
    html: str | None = None
    substitution_tag: str | None = None


class Ganalytics(_Setting):
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    utm_campaign: str | None = None

    def params(self) -> list[tuple[str, str]]:
        values = self.model_dump()
        return [(key, values[key]) for key in UTM_KEYS if values.get(key)]


class TrackingSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    click_tracking: ClickTracking = ClickTracking()
    open_tracking: OpenTracking = OpenTracking()
    subscription_tracking: SubscriptionTracking = SubscriptionTracking()
    ganalytics: Ganalytics = Ganalytics()


@functools.cache
def _docs_defaults() -> TenantSettings:
    """A tenant without a settings row has the model's defaults (built once: ~50 µs each)."""
    return TenantSettings(tenant_id="")


def tenant_defaults(row: TenantSettings | None) -> dict[str, Any]:
    """The tenant's tracking defaults in the request's shape (a missing row: the docs' defaults)."""
    t = row or _docs_defaults()
    return {
        "click_tracking": {"enable": t.click_tracking_enabled, "enable_text": t.click_tracking_enable_text},
        "open_tracking": {"enable": t.open_tracking_enabled, "substitution_tag": t.open_tracking_substitution_tag},
        "subscription_tracking": {
            "enable": t.subscription_tracking_enabled, "text": t.subscription_tracking_text,
            "html": t.subscription_tracking_html, "substitution_tag": t.subscription_tracking_substitution_tag,
        },
        "ganalytics": {"enable": t.ganalytics_enabled, **{k: getattr(t, f"ganalytics_{k}") for k in UTM_KEYS}},
    }  # fmt: skip


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` wins key by key, recursively; a null in the request leaves the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif value is not None:
            merged[key] = value
    return merged


_SETTINGS_CACHE_SIZE = 256
_settings_cache: OrderedDict[str, TrackingSettings] = OrderedDict()


def effective_settings(row: TenantSettings | None, request: dict[str, Any]) -> TrackingSettings:
    """Validated once per distinct merged settings (a tenant's messages mostly share theirs):
    validating the models costs more than the rest of tracking a short message. The cached
    models are frozen, so a caller cannot change another message's settings."""
    merged = deep_merge(tenant_defaults(row), request or {})
    key = json.dumps(merged, sort_keys=True, default=str)
    found = _settings_cache.get(key)
    if found is None:
        found = _settings_cache[key] = TrackingSettings.model_validate(merged)
        while len(_settings_cache) > _SETTINGS_CACHE_SIZE:
            _settings_cache.popitem(last=False)
    return found


# quote(url, safe="") for ASCII text, as one C-level translate: every byte but letters, digits
# and "_.-~" becomes %XX (urllib's per-character loop was a tenth of tracking a message).
_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_QUOTE_ASCII = {c: f"%{c:02X}" for c in range(128) if c not in _ALWAYS_SAFE}


def quote_component(text: str) -> str:
    """`urllib.parse.quote(text, safe="")`, faster for the ASCII URLs mail links are."""
    return text.translate(_QUOTE_ASCII) if text.isascii() else quote(text, safe="")


@dataclass(frozen=True, slots=True)
class TrackingLinks:
    """Signed tracking URLs for one message, attributed to one recipient."""

    base_url: str
    tokens: TrackingTokens
    message_id: str
    recipient_id: str

    def click(self, url: str) -> str:
        token = self.tokens.make("c", self.message_id, self.recipient_id, url)
        return f"{self.base_url}/t/c/{token}?u={quote_component(url)}"

    def pixel(self) -> str:
        return (
            f"{self.base_url}/t/o/{self.tokens.make('o', self.message_id, self.recipient_id)}.gif"
        )

    def unsubscribe(self) -> str:
        return f"{self.base_url}/t/u/{self.tokens.make('u', self.message_id, self.recipient_id)}"

    def is_ours(self, url: str) -> bool:
        return url.startswith(f"{self.base_url}/t/")


@dataclass(frozen=True, slots=True)
class Footer:
    """`mail_settings.footer`: appended to both parts, before subscription tracking's footer."""

    text: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Tracked:
    content: Content
    headers: dict[str, str]


def apply_tracking(
    content: Content,
    settings: TrackingSettings,
    links: TrackingLinks,
    *,
    footer: Footer | None = None,
    list_unsubscribe: bool = False,
) -> Tracked:
    unsubscribe_url = links.unsubscribe()
    html_part = _track_html(content, settings, links, footer, unsubscribe_url)
    text_part = _track_text(content.text, settings, links, footer, unsubscribe_url)
    headers: dict[str, str] = {}
    if settings.subscription_tracking.enable or list_unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    return Tracked(Content(content.subject, text_part, html_part, content.others), headers)


def _destination(url: str, settings: TrackingSettings, links: TrackingLinks) -> str | None:
    """Where a link should point after tracking, or None to leave it alone (mailto:, tel:,
    anchors, relative links and our own /t/ links, unsubscribe included)."""
    if not url.lower().startswith(("http://", "https://")) or links.is_ours(url):
        return None
    if settings.ganalytics.enable:
        url = add_query_params(url, settings.ganalytics.params())
    return url


def _track_html(
    content: Content,
    settings: TrackingSettings,
    links: TrackingLinks,
    footer: Footer | None,
    unsubscribe_url: str,
) -> str | None:
    body = content.html
    if body is None:
        return None
    subscription, opens = settings.subscription_tracking, settings.open_tracking
    tail = footer.html if footer and footer.html else ""
    if subscription.enable and subscription.substitution_tag:
        body = body.replace(subscription.substitution_tag, html.escape(unsubscribe_url))
    elif subscription.enable:
        tail += _link_marker_html(subscription.html or DEFAULT_SUBSCRIPTION_HTML, unsubscribe_url)
    if opens.enable:
        pixel = PIXEL.format(src=html.escape(links.pixel()))
        if opens.substitution_tag and opens.substitution_tag in body:
            body = body.replace(opens.substitution_tag, pixel)
        else:
            tail += pixel  # concepts-tracking: the pixel goes just before </body>

    def rewrite(link: html_edit.Link) -> str | None:
        if link.tracking_off:
            return None
        target = _destination(link.url, settings, links)
        if target is None:
            return None
        return links.click(target) if settings.click_tracking.enable else target

    wants_links = settings.click_tracking.enable or settings.ganalytics.enable
    if not wants_links and not tail:
        return body
    tags = content.html_tags if body is content.html else None  # unchanged: reuse the tokens
    return html_edit.edit(body, html_edit.scan(body, tags), rewrite, tail)


def _track_text(
    body: str | None,
    settings: TrackingSettings,
    links: TrackingLinks,
    footer: Footer | None,
    unsubscribe_url: str,
) -> str | None:
    if body is None:
        return None
    subscription = settings.subscription_tracking
    if subscription.enable and subscription.substitution_tag:
        body = body.replace(subscription.substitution_tag, unsubscribe_url)
    if settings.ganalytics.enable or (
        settings.click_tracking.enable and settings.click_tracking.enable_text
    ):
        body = _TEXT_URL.sub(lambda m: _track_text_url(m.group(0), settings, links), body)
    if footer and footer.text:
        body = _append_line(body, footer.text)
    if subscription.enable and not subscription.substitution_tag:
        text = subscription.text or DEFAULT_SUBSCRIPTION_TEXT
        body = _append_line(body, _link_marker_text(text, unsubscribe_url))
    return body


def _track_text_url(found: str, settings: TrackingSettings, links: TrackingLinks) -> str:
    url = found.rstrip(_TRAILING)
    trailing = found[len(url) :]
    target = _destination(url, settings, links)
    if target is None:
        return found
    if settings.click_tracking.enable and settings.click_tracking.enable_text:
        target = links.click(target)
    return target + trailing


def _link_marker_html(template: str, url: str) -> str:
    """`<% click here %>` becomes the link; without a marker the link follows the text."""
    href = html.escape(url, quote=True)
    if _LINK_TAG.search(template) is None:
        return f'{template}<p><a href="{href}">Unsubscribe</a></p>'
    return _LINK_TAG.sub(
        lambda m: f'<a href="{href}">{m.group(1).strip() or "Unsubscribe"}</a>', template
    )


def _link_marker_text(template: str, url: str) -> str:
    if _LINK_TAG.search(template) is None:
        return f"{template} {url}"
    return _LINK_TAG.sub(lambda m: f"{m.group(1).strip()} {url}".strip(), template)


def _append_line(body: str, extra: str) -> str:
    return f"{body.rstrip()}\n\n{extra}\n"


def add_query_params(url: str, params: list[tuple[str, str]]) -> str:
    """Append parameters the URL does not already carry; the fragment stays last."""
    if not params:
        return url
    parts = urlsplit(url)
    present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    extra = [(k, v) for k, v in params if k not in present]
    if not extra:
        return url
    query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
    return urlunsplit(parts._replace(query=query))
