"""HTML tokenizing with source offsets, built from html.parser's own tokenizer patterns (the
start-tag boundary and attribute scanners it uses) driven by a small loop, after the WHATWG rules
for what mail HTML contains: start and end tags (a `>` inside a quoted value included),
comments (`<!-- -->`, `<!-->`), bogus comments and doctypes (`<!…>`, `<?…>`), and the raw-text
and RCDATA elements whose content is not markup (`script`, `style`, `title`, `textarea`, …).

Why not HTMLParser itself: it dispatches every tag through several Python calls (15-40 µs per tag
here), most of a message's rendering time for a 20-row order email. This loop touches a tag with
one C-level match and parses attributes only of the tags a caller asks about."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from html import parser as _stdlib
from typing import Literal, NamedTuple

# html.parser's tokenizer patterns (module-level in the stdlib since Python 3.0).
_TAG_BOUNDARY: re.Pattern[str] = _stdlib.locatestarttagend_tolerant  # type: ignore[attr-defined]
_ATTRIBUTE: re.Pattern[str] = _stdlib.attrfind_tolerant  # type: ignore[attr-defined]
_TAG_NAME: re.Pattern[str] = _stdlib.tagfind_tolerant  # type: ignore[attr-defined]
# What can start markup at a `<`: a comment, a start or end tag (group 3 is its name), or a
# bogus comment; a `<` followed by anything else is text.
_NEXT = re.compile(r"<(?:(!--)|(/)?([a-zA-Z][^\t\n\r\f />\x00]*)|[!?/])")
# A start tag and its `>` in one match: the boundary pattern in an atomic group matches exactly
# what `_TAG_BOUNDARY.match` does (never a shorter prefix found by backtracking), then `>` must
# follow; when it does not, the tag ends at the next `>` (tolerated junk), as before.
_START_TAG = re.compile(f"(?>{_TAG_BOUNDARY.pattern})>", _TAG_BOUNDARY.flags)
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "title", "textarea"}
)

Kind = Literal["start", "end", "skip"]


class Tag(NamedTuple):
    kind: Kind  # "skip": a comment, doctype or bogus comment (no text, no markup)
    name: str  # lowercased ("" for skips)
    start: int  # offset of `<`
    end: int  # offset just after `>`


class Attribute(NamedTuple):
    name: str  # lowercased
    value: str  # raw, entities not decoded
    start: int  # offsets of the value in the document, quotes excluded
    end: int
    quote: str  # '"', "'" or "" (unquoted or no value)


def tags(document: str) -> Iterator[Tag]:
    """Tags and skipped constructs in order; the text between them is everything else."""
    search, start_tag, find, position = _NEXT.search, _START_TAG.match, document.find, 0
    new = tuple.__new__  # Tag(...) without NamedTuple's Python-level __new__: ~280 tags a message
    while (found := search(document, position)) is not None:
        lt = found.start()
        comment, slash, name = found.groups()
        if name is not None and slash is None:  # a start tag
            match = start_tag(document, lt)
            if match is not None:
                end = match.end()
            elif (close := find(">", lt)) >= 0:  # junk before `>`, tolerated
                end = close + 1
            else:
                return  # EOF inside a tag drops it
            name = name.lower()
            yield new(Tag, ("start", name, lt, end))
            position = _raw_text_end(document, end, name) if name in RAW_TEXT else end
            continue
        if name is not None:
            close = find(">", lt)
            tag = new(Tag, ("end", name.lower(), lt, len(document) if close < 0 else close + 1))
        elif comment:
            tag = Tag("skip", "", lt, _comment_end(document, lt))
        else:  # <!…>, <?…>, </…> without a name: bogus comments up to the next `>`
            tag = Tag("skip", "", lt, _after(document, ">", lt + 2))
        yield tag
        position = tag.end


def _after(document: str, needle: str, position: int) -> int:
    found = document.find(needle, position)
    return len(document) if found < 0 else found + len(needle)


def _comment_end(document: str, lt: int) -> int:
    if document.startswith("<!-->", lt):
        return lt + 5
    if document.startswith("<!--->", lt):
        return lt + 6
    return _after(document, "-->", lt + 4)


def _raw_text_end(document: str, position: int, name: str) -> int:
    """Raw text ends at `</name` followed by whitespace, `/` or `>` (any case)."""
    needle = "</" + name
    while (at := document.find("</", position)) >= 0:
        if document[at : at + len(needle)].lower() == needle:
            following = document[at + len(needle) : at + len(needle) + 1]
            if following in ("", ">", "/", "\t", "\n", "\f", "\r", " "):
                return at
        position = at + 2
    return len(document)


@functools.lru_cache(maxsize=1024)
def attributes(document: str, tag: Tag) -> tuple[Attribute, ...]:
    """The attributes of a start tag, with the offsets of their values. Cached: the text
    alternative and click tracking both read every link of the same document (the document's
    hash is computed once per string and kept by it)."""
    text = document[tag.start : tag.end]
    name = _TAG_NAME.match(text, 1)
    position = name.end() if name else len(text)
    found: list[Attribute] = []
    while position < len(text) - 1:
        match = _ATTRIBUTE.match(text, position)
        if match is None or match.end() == position:
            break
        value = match.group(3)
        if value is not None:
            quote = value[0] if value[:1] in ("'", '"') else ""
            start, end = match.start(3) + len(quote), match.end(3) - len(quote)
            found.append(
                Attribute(match.group(1).lower(), text[start:end], tag.start + start,
                          tag.start + end, quote)
            )  # fmt: skip
        else:
            at = tag.start + match.end(1)
            found.append(Attribute(match.group(1).lower(), "", at, at, ""))
        position = match.end()
    return tuple(found)
