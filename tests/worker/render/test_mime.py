"""The MIME builder: structure per content, RFC 2047 encoding and folding, CRLF line endings,
attachments streamed as base64 from storage, stable boundaries."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from scaisend_core.storage import LocalStorage
from scaisend_worker.render.mime import (
    AttachmentRef,
    Composition,
    Mailbox,
    MimeError,
    build,
)
from tests.worker.support import parse

BASE = Composition(
    message_id="msg_01ABC",
    message_id_header="<msg_01ABC@mta.scaisend.test>",
    date=datetime(2026, 4, 23, 10, 0, tzinfo=UTC),
    sender=Mailbox("orders@mail.example.test", "Acme"),
    to=[Mailbox("ada@example.test")],
    cc=[],
    reply_to=[],
    subject="Hello",
    headers={},
    text="Hi",
    html="<p>Hi</p>",
)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


async def raw_of(c: Composition, storage: LocalStorage) -> bytes:
    return await build(c).to_bytes(storage)


@pytest.mark.parametrize(
    ("text", "html", "content_type"),
    [("Hi", None, "text/plain"), (None, "<p>Hi</p>", "text/html"),
     ("Hi", "<p>Hi</p>", "multipart/alternative")],
)  # fmt: skip
async def test_top_level_type_follows_the_content(
    storage: LocalStorage, text: str | None, html: str | None, content_type: str
) -> None:
    raw = await raw_of(replace(BASE, text=text, html=html), storage)

    assert parse(raw).get_content_type() == content_type


async def test_non_ascii_names_and_subjects_are_encoded_and_folded(storage: LocalStorage) -> None:
    subject = "Grüße aus Köln – Ihre Bestellung Nr. 12345 ist unterwegs und kommt bald an 🚚"
    composition = replace(
        BASE,
        subject=subject,
        sender=Mailbox("orders@mail.example.test", "Zoë Åström, Versand"),
        to=[Mailbox("jose@example.test", "José Müller")],
    )

    raw = await raw_of(composition, storage)

    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert head.isascii()
    parsed = parse(raw)
    assert str(make_header(decode_header(parsed["Subject"]))) == subject
    assert parsed["From"].addresses[0].display_name == "Zoë Åström, Versand"
    assert parsed["To"].addresses[0].display_name == "José Müller"


async def test_a_long_url_header_is_kept_whole_not_encoded(storage: LocalStorage) -> None:
    url = "<http://scaisend.test/t/u/" + "A" * 120 + ">"

    raw = await raw_of(replace(BASE, headers={"List-Unsubscribe": url}), storage)

    assert f"List-Unsubscribe: {url}\r\n".encode() in raw
    assert parse(raw)["List-Unsubscribe"] == url


async def test_every_line_ends_with_crlf_and_bodies_are_7bit(storage: LocalStorage) -> None:
    raw = await raw_of(replace(BASE, text="Grüße\nZeile zwei", html="<p>Grüße</p>"), storage)

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw


async def test_our_headers_cannot_be_overridden_by_custom_ones(storage: LocalStorage) -> None:
    headers = {"Message-ID": "<forged@x>", "X-Campaign": "spring", "List-Id": "<news.acme>"}

    parsed = parse(await raw_of(replace(BASE, headers=headers), storage))

    assert parsed["Message-ID"] == "<msg_01ABC@mta.scaisend.test>"
    assert (parsed["X-Campaign"], parsed["List-Id"]) == ("spring", "<news.acme>")


async def test_attachments_are_streamed_in_base64_lines(storage: LocalStorage) -> None:
    blob = bytes(range(256)) * 2000  # 512 KB, many storage chunks
    await storage.put("att/blob", blob)
    ref = AttachmentRef(
        "data.bin", "application/octet-stream", "attachment", None, "att/blob", len(blob)
    )

    chunks = [c async for c in build(replace(BASE, attachments=[ref])).stream(storage)]

    raw = b"".join(chunks)
    assert len(chunks) > 3
    body = raw.split(b'filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n', 1)[1]
    lines = body.split(b"\r\n--", 1)[0].split(b"\r\n")
    assert {len(line) for line in lines[:-1]} == {76}
    assert base64.b64decode(b"".join(lines)) == blob
    attachment = next(p for p in parse(raw).walk() if p.get_filename() == "data.bin")
    assert attachment.get_payload(decode=True) == blob


async def test_an_empty_attachment_is_still_a_valid_part(storage: LocalStorage) -> None:
    await storage.put("att/empty", b"")
    ref = AttachmentRef("empty.txt", "text/plain", "attachment", None, "att/empty", 0)

    parsed = parse(await raw_of(replace(BASE, attachments=[ref]), storage))

    part = next(p for p in parsed.walk() if p.get_filename() == "empty.txt")
    assert part.get_payload(decode=True) == b""


async def test_non_ascii_filenames_use_rfc_2231(storage: LocalStorage) -> None:
    await storage.put("att/r", b"x")
    ref = AttachmentRef("Rechnung März.pdf", "application/pdf", "attachment", None, "att/r", 1)

    raw = await raw_of(replace(BASE, attachments=[ref]), storage)

    assert b"filename*=utf-8''Rechnung%20M%C3%A4rz.pdf" in raw
    assert (
        next(p for p in parse(raw).walk() if p.get_filename()).get_filename() == "Rechnung März.pdf"
    )


async def test_inline_images_without_html_become_regular_attachments(storage: LocalStorage) -> None:
    await storage.put("att/logo", b"png")
    ref = AttachmentRef("logo.png", "image/png", "inline", "logo", "att/logo", 3)

    parsed = parse(await raw_of(replace(BASE, html=None, attachments=[ref]), storage))

    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed",
        "text/plain",
        "image/png",
    ]


async def test_the_same_message_gets_the_same_boundaries(storage: LocalStorage) -> None:
    first = await raw_of(BASE, storage)
    again = await raw_of(BASE, storage)
    other = await raw_of(replace(BASE, message_id="msg_01XYZ"), storage)

    assert first == again
    assert first != other


def test_an_address_the_encoder_refuses_is_a_mime_error() -> None:
    with pytest.raises(MimeError):
        build(replace(BASE, to=[Mailbox("not an address\r\nBcc: x@y")]))
