"""Edit HTML at exact offsets found by the tokenizer (html_tokens): link `href` values and the
closing `</body>`. Only the bytes of the rewritten attribute values and the insertion point
change; the rest of the document is left byte-identical (no re-serialisation). Links inside
comments, `<script>` and `<style>` are not links, as the tokenizer knows."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scaisend_worker.render import html_tokens

LINK_TAGS = frozenset({"a", "area"})


@dataclass(frozen=True, slots=True)
class Link:
    start: int  # offsets of the attribute value in the document, quotes excluded
    end: int
    url: str  # the value with entities decoded
    quote: str  # the quote character used, or "" for an unquoted value
    tracking_off: bool  # SendGrid's `clicktracking=off` attribute on the tag


@dataclass(frozen=True, slots=True)
class HtmlMap:
    links: list[Link]
    body_close: int | None  # offset of the last `</body>` tag


def scan(document: str, tags: Sequence[html_tokens.Tag] | None = None) -> HtmlMap:
    """`tags`: the document's tokens when the caller already has them."""
    links: list[Link] = []
    body_close: int | None = None
    for tag in html_tokens.tags(document) if tags is None else tags:
        if tag.kind == "start" and tag.name in LINK_TAGS:
            link = _link(html_tokens.attributes(document, tag))
            if link is not None:
                links.append(link)
        elif tag.kind == "end" and tag.name == "body":
            body_close = tag.start
    return HtmlMap(links, body_close)


def _link(attributes: Sequence[html_tokens.Attribute]) -> Link | None:
    href = next((a for a in attributes if a.name == "href"), None)
    if href is None:
        return None
    tracking_off = any(
        a.name == "clicktracking" and a.value.strip().lower() == "off" for a in attributes
    )
    return Link(href.start, href.end, html.unescape(href.value).strip(), href.quote, tracking_off)


def edit(
    document: str,
    found: HtmlMap,
    rewrite: Callable[[Link], str | None],
    before_body_end: str = "",
) -> str:
    """Replace each link whose `rewrite` returns a URL; insert `before_body_end` before the last
    `</body>` (or at the end of a document without one)."""
    edits: list[tuple[int, int, str]] = []
    for link in found.links:
        new_url = rewrite(link)
        if new_url is None or new_url == link.url:
            continue
        value = html.escape(new_url, quote=True)
        edits.append((link.start, link.end, value if link.quote else f'"{value}"'))
    if before_body_end:
        at = found.body_close if found.body_close is not None else len(document)
        edits.append((at, at, before_body_end))
    if not edits:
        return document
    out: list[str] = []
    position = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(document[position:start])
        out.append(text)
        position = end
    out.append(document[position:])
    return "".join(out)
