"""A readable text/plain alternative from HTML, for versions with `generate_plain_content`: block
elements become line breaks, lists get dashes, links keep their target, scripts and styles go."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence

from scaisend_worker.render import html_tokens

_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
     "blockquote", "section", "article", "header", "footer", "hr", "pre"}
)  # fmt: skip
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "table"})
_HIDDEN = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
_CACHED_TEXT = 200  # characters
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def html_to_text(document: str, tags: Sequence[html_tokens.Tag] | None = None) -> str:
    """`tags`: the document's tokens when the caller already has them."""
    out: list[str] = []
    hrefs: list[str | None] = []
    hidden = position = 0
    # Unpacked, not read through the NamedTuple's properties: this runs for every tag.
    for tag in html_tokens.tags(document) if tags is None else tags:
        kind, name, start, end = tag
        if not hidden and start > position:
            out.append(_text(document[position:start]))
        position = end
        if name in _HIDDEN:
            hidden = hidden + 1 if kind == "start" else max(0, hidden - 1)
        elif kind == "start":
            _open(document, tag, out, hrefs)
        elif kind == "end":
            _close(name, out, hrefs)
    if not hidden:
        out.append(_text(document[position:]))
    lines = (line.strip() for line in "".join(out).split("\n"))
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return text + "\n" if text else ""


def _text(raw: str) -> str:
    return _short_text(raw) if len(raw) <= _CACHED_TEXT else _clean(raw)


@functools.lru_cache(maxsize=4096)
def _short_text(raw: str) -> str:
    """Cached: most text between tags is the template's own, the same in every message (short
    pieces only, so the cache stays small)."""
    return _clean(raw)


def _clean(raw: str) -> str:
    if "&" in raw:
        raw = html.unescape(raw)
    return _SPACES.sub(" ", raw.replace("\n", " "))


def _open(document: str, tag: html_tokens.Tag, out: list[str], hrefs: list[str | None]) -> None:
    if tag.name in _BLOCKS:
        out.append("\n\n" if tag.name in _PARAGRAPHS else "\n")
        if tag.name == "li":
            out.append("- ")
    elif tag.name == "a":
        attributes = html_tokens.attributes(document, tag)
        href = next((a.value for a in attributes if a.name == "href"), None)
        hrefs.append(html.unescape(href) if href else None)


def _close(name: str, out: list[str], hrefs: list[str | None]) -> None:
    if name in _BLOCKS and name != "li":  # the next item starts its own line
        out.append("\n")
    elif name == "a" and hrefs:
        href = hrefs.pop()
        if href and href.startswith(("http://", "https://")):
            out.append(f" ({href})")
