"""The offset-keeping tokenizer finds the same links as the stdlib's HTMLParser on hostile HTML,
and its offsets point at the attribute values themselves."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest

from scaisend_worker.render import html_edit, html_tokens

DOCUMENTS = [
    '<!DOCTYPE html><html><body><a href="https://a.example/1">x</a></body></html>',
    '<A HREF="https://upper.example">x</A><a\nclass=x\nhref=https://unquoted.example/p?q=1>y</a>',
    '<img alt="a > b <a href=\'https://in-attr.example\'>"><a href="https://after.example">z</a>',
    "<!-- <a href='https://comment.example'> --><a href='https://real.example'>r</a>",
    "<!--><a href='https://after-empty-comment.example'>e</a>",
    '<script>var s = "</scr" + "ipt><a href=https://script.example>";</script><a href="https://post.example">p</a>',
    "<style>a[href='https://style.example']{}</style><a href='https://s.example'>s</a>",
    "<?xml version='1.0'?><![CDATA[<a href='https://cdata.example'>]]><a href='https://c.example'>c</a>",
    "a < b and c<d <a href=\"https://lt.example\">l</a> </ weird> <a href='#anchor'>#</a>",
    '<a href="https://amp.example/?a=1&amp;b=2" clicktracking="off">amp</a><area href="https://area.example">',
    "<a name=x>no href</a><a href>empty</a><a href=''>blank</a><a href=\"https://last.example\"",
]


class _Reference(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            href = dict(attrs).get("href")
            if href:
                self.links.append(href.strip())


def reference_links(document: str) -> list[str]:
    parser = _Reference()
    parser.feed(document)
    parser.close()
    return parser.links


@pytest.mark.parametrize("document", DOCUMENTS)
def test_links_match_the_stdlib_parser(document: str) -> None:
    found = html_edit.scan(document)

    assert [link.url for link in found.links if link.url] == reference_links(document)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_link_offsets_point_at_the_raw_attribute_value(document: str) -> None:
    for link in html_edit.scan(document).links:
        raw = document[link.start : link.end]
        assert link.quote in ('"', "'", "")
        assert raw.replace("&amp;", "&").strip() == link.url


def test_title_and_textarea_hold_text_not_markup_as_browsers_do() -> None:
    # html.parser parses tags inside these; the HTML spec (RCDATA) and browsers do not.
    document = "<title><a href=x></title><textarea><a href='https://t.example'></textarea>"

    assert html_edit.scan(document).links == []


def test_body_close_is_the_last_real_closing_body_tag() -> None:
    document = "<body><!-- </body> --><script>'</body>'</script>text</BODY >tail"

    found = html_edit.scan(document)

    assert found.body_close == document.index("</BODY")


def test_raw_text_elements_hide_their_content() -> None:
    document = "<p>a</p><script>if (a<b) {}</script><p>b</p>"

    names = [(t.kind, t.name) for t in html_tokens.tags(document)]

    assert names == [("start", "p"), ("end", "p"), ("start", "script"), ("end", "script"),
                     ("start", "p"), ("end", "p")]  # fmt: skip


def _two_step_tags(document: str) -> list[tuple[str, str, int, int]]:
    """The tokenizer as first written (the boundary match, then a check for `>`): the fused
    pattern must find exactly the same tags."""
    found: list[tuple[str, str, int, int]] = []
    position = 0
    while (match := html_tokens._NEXT.search(document, position)) is not None:
        lt, name = match.start(), match.group(3)
        if name is not None and match.group(2) is None:
            boundary = html_tokens._TAG_BOUNDARY.match(document, lt)
            if boundary and document.startswith(">", boundary.end()):
                end = boundary.end() + 1
            elif (close := document.find(">", lt)) >= 0:
                end = close + 1
            else:
                break
            tag = ("start", name.lower(), lt, end)
        elif name is not None:
            close = document.find(">", lt)
            tag = ("end", name.lower(), lt, len(document) if close < 0 else close + 1)
        elif match.group(1):
            tag = ("skip", "", lt, html_tokens._comment_end(document, lt))
        else:
            tag = ("skip", "", lt, html_tokens._after(document, ">", lt + 2))
        found.append(tag)
        position = tag[3]
        if tag[0] == "start" and tag[1] in html_tokens.RAW_TEXT:
            position = html_tokens._raw_text_end(document, position, tag[1])
    return found


FRAGMENTS = [
    "<a", " href", "=", '"x>y"', "'q>'", ">", "/", " ", "\n", "<", "</a", "</", "b", "<!--", "-->",
    "<!", "<?", "<script>", "</script>", "<title>", "=x", "==", '"', "'", "text", "<br/>", "\t",
    "<img src=a/>", "<A HREF=x>", "</A >", "< a>", "<a/b>", "&amp;",
]  # fmt: skip


def test_the_fused_start_tag_pattern_finds_what_the_two_step_match_found() -> None:
    rng = random.Random(20261129)
    documents = [*DOCUMENTS]
    for _ in range(3000):
        documents.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14))))
    for document in documents:
        assert list(html_tokens.tags(document)) == _two_step_tags(document), document
