"""Edit HTML at exact offsets found by the stdlib tokenizer: link `href` values and the closing
`</body>`. Only the bytes of the rewritten attribute values and the insertion point change; the
rest of the document is left byte-identical (no re-serialisation, no regular-expression parsing).
Links inside comments, `<script>` and `<style>` are not links, as the tokenizer knows."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser, attrfind_tolerant, tagfind_tolerant  # type: ignore[attr-defined]

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


class _Scanner(HTMLParser):
    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0]
        index = document.find("\n")
        while index >= 0:
            self.line_starts.append(index + 1)
            index = document.find("\n", index + 1)
        self.links: list[Link] = []
        self.body_close: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LINK_TAGS:
            link = _href(self.get_starttag_text() or "", self._offset())
            if link is not None:
                self.links.append(link)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_close = self._offset()


def _href(tag_text: str, tag_offset: int) -> Link | None:
    """Walk the tag's attributes with the tokenizer's own pattern, keeping their positions."""
    name_match = tagfind_tolerant.match(tag_text, 1)
    position = name_match.end() if name_match else 1
    found: tuple[int, int, str, str] | None = None
    tracking_off = False
    while position < len(tag_text):
        match = attrfind_tolerant.match(tag_text, position)
        if not match or match.end() == position:
            break
        name, value = match.group(1).lower(), match.group(3)
        if value is not None:
            quote = value[0] if value[:1] in ("'", '"') else ""
            start, end = match.start(3) + len(quote), match.end(3) - len(quote)
            if name == "href" and found is None:
                found = (start, end, tag_text[start:end], quote)
            elif name == "clicktracking" and tag_text[start:end].strip().lower() == "off":
                tracking_off = True
        position = match.end()
    if found is None:
        return None
    start, end, raw, quote = found
    return Link(
        tag_offset + start, tag_offset + end, html.unescape(raw).strip(), quote, tracking_off
    )


def scan(document: str) -> HtmlMap:
    scanner = _Scanner(document)
    scanner.feed(document)
    scanner.close()
    return HtmlMap(scanner.links, scanner.body_close)


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
