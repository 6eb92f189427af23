"""Subject, text and HTML of one message: a dynamic template rendered with Handlebars, a legacy
template around the request's content (`<%body%>`, `<%subject%>`), or the request's own content;
then legacy substitutions and sections, and SendGrid's unsubscribe placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scaisend_core.models import EmailMessage
from scaisend_core.templating import TemplateCache
from scaisend_worker.render import html_tokens
from scaisend_worker.render.plaintext import html_to_text

# Filled with our signed /t/u/ link: every one of them opens the same landing page, which offers
# the global unsubscribe, the message's group and the other groups (reference-tracking-endpoints).
RAW_UNSUBSCRIBE_TAGS = (
    "<%asm_group_unsubscribe_raw_url%>",
    "<%asm_global_unsubscribe_raw_url%>",
    "<%asm_preferences_raw_url%>",
)
HANDLEBARS_UNSUBSCRIBE_KEYS = ("unsubscribe", "unsubscribe_preferences")


@dataclass(frozen=True, slots=True)
class Content:
    subject: str
    text: str | None
    html: str | None
    others: tuple[tuple[str, str], ...] = ()  # (mime type, body), e.g. text/x-amp-html
    # The HTML's tokens when generating plain text needed them; tracking reuses them while the
    # HTML is unchanged, so a message's HTML is tokenized once.
    html_tags: tuple[html_tokens.Tag, ...] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """The version a message renders; `updated_at` keys the compiled-template cache."""

    version_id: str
    updated_at: datetime
    dynamic: bool
    subject: str | None
    html: str | None
    plain: str | None
    generate_plain: bool


def render_content(
    message: EmailMessage,
    template: TemplateSource | None,
    cache: TemplateCache,
    unsubscribe_url: str,
) -> Content:
    if template is not None and template.dynamic:
        content = _dynamic(message, template, cache, unsubscribe_url)
    elif template is not None:
        content = _substituted(message, _legacy(message, template))
    else:
        content = _substituted(message, _raw(message))
    return _fill_unsubscribe_tags(content, unsubscribe_url)


def _dynamic(
    message: EmailMessage, template: TemplateSource, cache: TemplateCache, unsubscribe_url: str
) -> Content:
    data: dict[str, Any] = {key: unsubscribe_url for key in HANDLEBARS_UNSUBSCRIBE_KEYS}
    data.update(message.dynamic_template_data or {})  # the sender's own values win

    def render(field: str, source: str | None) -> str | None:
        if not source:
            return None
        return cache.render((template.version_id, template.updated_at, field), source, data)

    html = render("html", template.html)
    text = render("plain", template.plain)
    tags = None
    if text is None and html is not None and template.generate_plain:
        tags = tuple(html_tokens.tags(html))
        text = html_to_text(html, tags)
    subject = render("subject", template.subject) or message.subject or ""
    return Content(subject=subject, text=text, html=html, html_tags=tags)


def _request_parts(message: EmailMessage) -> tuple[str | None, str | None, tuple[Any, ...]]:
    text = html = None
    others = []
    for part in message.content:
        kind, value = str(part.get("type", "")).lower(), str(part.get("value", ""))
        if kind == "text/plain" and text is None:
            text = value
        elif kind == "text/html" and html is None:
            html = value
        else:
            others.append((kind, value))
    return text, html, tuple(others)


def _raw(message: EmailMessage) -> Content:
    text, html, others = _request_parts(message)
    return Content(subject=message.subject or "", text=text, html=html, others=others)


def _legacy(message: EmailMessage, template: TemplateSource) -> Content:
    text, html, others = _request_parts(message)
    subject = message.subject or ""
    if template.subject:
        subject = template.subject.replace("<%subject%>", subject)
    out_html = template.html.replace("<%body%>", html or text or "") if template.html else html
    if template.plain:
        out_text: str | None = template.plain.replace("<%body%>", text or "")
    elif out_html is not None and template.generate_plain:
        out_text = html_to_text(out_html)
    else:
        out_text = text
    return Content(subject=subject, text=out_text, html=out_html, others=others)


def _substituted(message: EmailMessage, content: Content) -> Content:
    """Legacy substitutions (one pass, longest key first), then section tags."""
    subs, sections = message.substitutions or {}, message.sections or {}
    if not subs and not sections:
        return content

    def apply(value: str | None) -> str | None:
        if value is None:
            return None
        return replace_all(replace_all(value, subs), sections)

    others = tuple((kind, apply(body) or "") for kind, body in content.others)
    return Content(apply(content.subject) or "", apply(content.text), apply(content.html), others)


def replace_all(text: str, table: Mapping[str, str]) -> str:
    """Replace every key at once, so a value that contains another key is left alone."""
    keys = [k for k in table if k and k in text]
    if not keys:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)))
    return pattern.sub(lambda m: str(table[m.group(0)]), text)


def _fill_unsubscribe_tags(content: Content, url: str) -> Content:
    table = dict.fromkeys(RAW_UNSUBSCRIBE_TAGS, url)

    def fill(value: str | None) -> str | None:
        return replace_all(value, table) if value and "<%asm_" in value else value

    if not any("<%asm_" in (v or "") for v in (content.text, content.html)):
        return content
    return Content(content.subject, fill(content.text), fill(content.html), content.others)
