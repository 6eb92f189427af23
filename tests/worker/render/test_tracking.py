"""Tracking applied to rendered content: signed click links that verify, links left alone, the
pixel, subscription footer and RFC 8058 headers, UTM parameters, tenant defaults under the
request's settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from pydantic import ValidationError

from scaisend_core.models import TenantSettings
from scaisend_core.tracking_tokens import TrackingTokens
from scaisend_worker.render.content import Content
from scaisend_worker.render.tracking import (
    Footer,
    TrackingLinks,
    apply_tracking,
    effective_settings,
    quote_component,
)
from tests.fixtures.environment import TEST_SECRET_KEY

BASE = "http://scaisend.test"
TOKENS = TrackingTokens(TEST_SECRET_KEY)
LINKS = TrackingLinks(BASE, TOKENS, "msg_01TEST", "rcp_01FIRST")
HTML = (
    '<html><body><p><a href="https://shop.example/item?id=1&amp;ref=mail">Item</a> '
    '<a href="mailto:help@shop.example">Mail us</a> <a href="#top">Top</a> '
    '<a href="/relative">Rel</a></p>\n<!-- <a href="https://hidden.example">x</a> -->'
    "</body></html>"
)


def settings(**request: Any) -> Any:
    none_on = TenantSettings(
        tenant_id="t", open_tracking_enabled=False, click_tracking_enabled=False
    )
    return effective_settings(none_on, request)


def track(html: str | None = HTML, text: str | None = None, **request: Any) -> Any:
    content = Content(subject="s", text=text, html=html)
    return apply_tracking(content, settings(**request), LINKS)


def click_target(tracked_url: str) -> str:
    """The destination a /t/c/ link redirects to, after checking its signature."""
    parts = urlsplit(tracked_url)
    assert parts.path.startswith("/t/c/")
    token = parts.path.removeprefix("/t/c/")
    url = parse_qs(parts.query)["u"][0]
    claims = TOKENS.read(token, "c", url)
    assert claims is not None, "click token does not verify"
    assert (claims.message_id, claims.recipient_id) == ("msg_01TEST", "rcp_01FIRST")
    return url


def test_click_tracking_rewrites_http_links_with_signed_tokens() -> None:
    out = track(click_tracking={"enable": True}).content.html

    href = out.split('href="', 1)[1].split('"', 1)[0]
    assert href.startswith(f"{BASE}/t/c/")
    assert click_target(href.replace("&amp;", "&")) == "https://shop.example/item?id=1&ref=mail"


def test_click_tracking_leaves_mailto_anchors_relative_and_commented_links_alone() -> None:
    out = track(click_tracking={"enable": True}).content.html

    assert '<a href="mailto:help@shop.example">' in out
    assert '<a href="#top">' in out
    assert '<a href="/relative">' in out
    assert '<!-- <a href="https://hidden.example">x</a> -->' in out


def test_everything_but_the_rewritten_href_is_byte_identical() -> None:
    out = track(click_tracking={"enable": True}).content.html

    start = HTML.index('href="') + len('href="')
    end = HTML.index('"', start)
    new_end = out.index('"', start)
    assert out[:start] == HTML[:start]
    assert out[new_end:] == HTML[end:]


def test_text_links_are_tracked_only_with_enable_text() -> None:
    text = "See https://shop.example/a. Or write to help@shop.example."

    off = track(html=None, text=text, click_tracking={"enable": True}).content.text
    on = track(html=None, text=text, click_tracking={"enable": True, "enable_text": True})

    assert off == text
    tracked = on.content.text.split()[1].rstrip(".")
    assert click_target(tracked) == "https://shop.example/a"
    assert on.content.text.endswith(". Or write to help@shop.example.")


def test_open_pixel_goes_just_before_body_close() -> None:
    out = track(open_tracking={"enable": True}).content.html

    pixel_at = out.index(f'<img src="{BASE}/t/o/')
    assert out.endswith("</body></html>")
    assert out.index("</body>") > pixel_at > out.index("-->")
    token = out[pixel_at:].split("/t/o/", 1)[1].split(".gif", 1)[0]
    assert TOKENS.read(token, "o") is not None


def test_open_pixel_replaces_the_substitution_tag() -> None:
    html = "<html><body>[pixel]<p>Hi</p></body></html>"

    out = track(html=html, open_tracking={"enable": True, "substitution_tag": "[pixel]"})

    assert out.content.html.startswith(f'<html><body><img src="{BASE}/t/o/')
    assert out.content.html.count("/t/o/") == 1


def test_subscription_tracking_adds_footer_links_and_one_click_headers() -> None:
    out = track(text="Hello", subscription_tracking={"enable": True})

    unsubscribe = out.headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{BASE}/t/u/")
    assert TOKENS.read(unsubscribe.rsplit("/", 1)[1], "u") is not None
    assert out.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'<a href="{unsubscribe}">click here</a>.</p></body>' in out.content.html
    assert out.content.text.endswith(f"emails click here: {unsubscribe}.\n")


def test_subscription_substitution_tag_takes_the_bare_url_and_no_footer() -> None:
    html = '<html><body><a href="[unsub]">Leave</a></body></html>'

    out = track(
        html=html,
        click_tracking={"enable": True},
        subscription_tracking={"enable": True, "substitution_tag": "[unsub]"},
    )

    assert out.content.html.startswith(f'<html><body><a href="{BASE}/t/u/')  # not click-tracked
    assert "click here" not in out.content.html


def test_custom_subscription_html_marks_the_link_text() -> None:
    out = track(subscription_tracking={"enable": True, "html": "<p>Bye? <% Leave now %></p>"})

    assert '">Leave now</a></p></body>' in out.content.html


def test_ganalytics_appends_utm_parameters_before_click_tracking() -> None:
    out = track(
        click_tracking={"enable": True},
        ganalytics={"enable": True, "utm_source": "mail", "utm_campaign": "spring sale"},
    )

    href = out.content.html.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert click_target(href) == (
        "https://shop.example/item?id=1&ref=mail&utm_source=mail&utm_campaign=spring+sale"
    )


def test_mail_settings_footer_is_appended_to_both_parts() -> None:
    content = Content(subject="s", text="Hi", html="<html><body><p>Hi</p></body></html>")

    out = apply_tracking(content, settings(), LINKS, footer=Footer("-- Acme", "<p>Acme</p>"))

    assert out.content.html == "<html><body><p>Hi</p><p>Acme</p></body></html>"
    assert out.content.text == "Hi\n\n-- Acme\n"


def test_an_asm_group_gets_list_unsubscribe_without_subscription_tracking() -> None:
    out = apply_tracking(Content("s", "t", None), settings(), LINKS, list_unsubscribe=True)

    assert out.headers["List-Unsubscribe"].startswith(f"<{BASE}/t/u/")


def test_request_settings_are_deep_merged_over_tenant_defaults() -> None:
    tenant = TenantSettings(
        tenant_id="t", click_tracking_enabled=True, subscription_tracking_enabled=True,
        subscription_tracking_text="Bye: <% %>", ganalytics_utm_source="tenant",
    )  # fmt: skip

    merged = effective_settings(
        tenant,
        {"click_tracking": {"enable": False}, "subscription_tracking": {"html": "<p><% x %></p>"}},
    )

    assert merged.click_tracking.enable is False
    assert merged.open_tracking.enable is True  # the docs' default, untouched by the request
    assert merged.subscription_tracking.enable is True
    assert merged.subscription_tracking.text == "Bye: <% %>"
    assert merged.subscription_tracking.html == "<p><% x %></p>"
    assert merged.ganalytics.utm_source == "tenant"


def test_a_missing_tenant_settings_row_means_the_documented_defaults() -> None:
    merged = effective_settings(None, {})

    assert (merged.open_tracking.enable, merged.click_tracking.enable) == (True, True)
    assert merged.click_tracking.enable_text is False
    assert (merged.subscription_tracking.enable, merged.ganalytics.enable) == (False, False)


def test_settings_are_validated_once_per_distinct_merge_and_cannot_be_changed() -> None:
    tenant = TenantSettings(tenant_id="t", click_tracking_enabled=True)
    other = TenantSettings(tenant_id="u", click_tracking_enabled=False)

    first = effective_settings(tenant, {"open_tracking": {"enable": False}})
    again = effective_settings(tenant, {"open_tracking": {"enable": False}})
    theirs = effective_settings(other, {"open_tracking": {"enable": False}})

    assert again is first
    assert theirs.click_tracking.enable is False
    assert first.click_tracking.enable is True
    with pytest.raises(ValidationError):
        first.click_tracking.enable = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/p/sku-1?ref=mail&x=a b#frag",
        "".join(chr(c) for c in range(128)),
        "https://zürich.example/ä?q=€",
        "",
    ],
)
def test_quote_component_quotes_as_urllib_does(url: str) -> None:
    assert quote_component(url) == quote(url, safe="")
