"""The RFC 5322 message, unsigned (the SMTP service DKIM-signs it): headers encoded and folded
by mime_headers, multipart/alternative text+HTML, related for CID images, mixed for attachments,
CRLF line endings and 7-bit bodies (quoted-printable by `binascii`). Attachment bytes are
streamed from object storage into base64 where the skeleton leaves a slot, so a large
attachment is never held whole in memory. Written directly rather than through
`email.message.EmailMessage`, whose header objects cost several milliseconds per message.

Boundaries derive from the message id, so re-rendering a message yields the same structure.
There is no Return-Path: the SMTP service sets the VERP envelope sender."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

from scaisend_core.storage import Storage
from scaisend_worker.render import mime_headers as headers
from scaisend_worker.render.mime_headers import HeaderError

OCTET_STREAM = "application/octet-stream"


OUR_HEADERS = frozenset({"message-id", "date", "mime-version", "x-scaisend-message-id"})
MAX_BODY_LINE = 998  # RFC 5322 line limit; longer or non-ASCII text goes quoted-printable
BASE64_LINE = 57  # input bytes per 76-character base64 line


class MimeError(ValueError):
    """The message cannot be expressed as MIME (an address or header the encoder refuses)."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    filename: str
    content_type: str
    disposition: str
    content_id: str | None
    storage_key: str
    size: int


@dataclass(frozen=True, slots=True)
class Composition:
    message_id: str
    message_id_header: str
    date: datetime
    sender: Mailbox
    to: Sequence[Mailbox]
    cc: Sequence[Mailbox]
    reply_to: Sequence[Mailbox]
    subject: str
    headers: dict[str, str]
    text: str | None
    html: str | None
    others: Sequence[tuple[str, str]] = ()
    attachments: Sequence[AttachmentRef] = ()


@dataclass(slots=True)
class MimeDocument:
    """Serialised skeleton pieces, with an attachment wherever its base64 body goes."""

    pieces: list[bytes | AttachmentRef] = field(default_factory=list)

    @property
    def attachments(self) -> list[AttachmentRef]:
        return [p for p in self.pieces if isinstance(p, AttachmentRef)]

    async def stream(self, storage: Storage) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                async for chunk in _base64_lines(storage.stream(piece.storage_key)):
                    yield chunk

    async def to_bytes(self, storage: Storage) -> bytes:
        return b"".join([chunk async for chunk in self.stream(storage)])


async def _base64_lines(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """CRLF-separated 76-character lines, without a CRLF after the last one (the skeleton
    supplies the line break before the next boundary)."""
    pending = b""
    first = True
    async for chunk in source:
        pending += chunk
        usable = len(pending) - len(pending) % BASE64_LINE
        if usable:
            yield _encode(pending[:usable], first)
            first = False
            pending = pending[usable:]
    if pending or first:
        yield _encode(pending, first)


def _encode(data: bytes, first: bool) -> bytes:
    lines = [base64.b64encode(data[i : i + BASE64_LINE]) for i in range(0, len(data), BASE64_LINE)]
    joined = b"\r\n".join(lines)
    return joined if first else b"\r\n" + joined


def build(c: Composition) -> MimeDocument:
    try:
        head = _headers(c)
        body = _tree(c)
    except HeaderError as exc:
        raise MimeError(f"cannot build the MIME message: {exc}") from exc
    document = MimeDocument()
    document.pieces.append(head.encode("ascii"))
    _write(document, body)
    return document


def _headers(c: Composition) -> str:
    lines = [headers.addresses("From", [(c.sender.name, c.sender.email)])]
    for name, boxes in (("To", c.to), ("Cc", c.cc), ("Reply-To", c.reply_to)):
        if boxes:
            lines.append(headers.addresses(name, [(b.name, b.email) for b in boxes]))
    lines += [
        headers.unstructured("Subject", c.subject),
        headers.unstructured("Date", format_datetime(c.date)),
        headers.unstructured("Message-ID", c.message_id_header),
        "MIME-Version: 1.0\r\n",
        headers.unstructured("X-ScaiSend-Message-Id", c.message_id),
    ]
    for name, value in c.headers.items():
        if name.lower() not in OUR_HEADERS:
            lines.append(headers.unstructured(headers.field_name(name), value))
    return "".join(lines)


@dataclass(slots=True)
class _Part:
    """A leaf (text or attachment) or a multipart container, not yet serialised."""

    headers: str
    body: bytes | AttachmentRef | None = None
    children: list[_Part] = field(default_factory=list)
    boundary: str = ""


def _text_part(body: str, subtype: str) -> _Part:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):  # a body's last line ends like every other (as the stdlib does)
        text += "\n"
    content_type = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    if text.isascii() and all(len(line) <= MAX_BODY_LINE for line in text.split("\n")):
        encoded, encoding = text.encode("ascii"), "7bit"
    else:
        encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
        encoding = "quoted-printable"
    cte = f"Content-Transfer-Encoding: {encoding}\r\n"
    return _Part(content_type + cte, encoded.replace(b"\n", b"\r\n"))


def _attachment_part(ref: AttachmentRef) -> _Part:
    lines = [
        headers.with_params("Content-Type", ref.content_type or OCTET_STREAM,
                            [("name", ref.filename)]),
        headers.with_params("Content-Disposition", ref.disposition, [("filename", ref.filename)]),
    ]  # fmt: skip
    if ref.content_id:
        lines.append(headers.unstructured("Content-ID", f"<{ref.content_id.strip('<>')}>"))
    lines.append("Content-Transfer-Encoding: base64\r\n")
    return _Part("".join(lines), ref)


def _tree(c: Composition) -> _Part:
    parts = [_text_part(c.text, "plain")] if c.text is not None else []
    parts += [_text_part(body, kind.partition("/")[2] or "plain") for kind, body in c.others]
    if c.html is not None:
        parts.append(_text_part(c.html, "html"))
    inline = [a for a in c.attachments if a.disposition == "inline" and a.content_id and c.html]
    regular = [a for a in c.attachments if a not in inline]
    boundaries = _boundaries(c.message_id)
    body = _container("alternative", parts or [_text_part("", "plain")], boundaries)
    if inline:
        body = _container("related", [body, *map(_attachment_part, inline)], boundaries)
    if regular:
        body = _container("mixed", [body, *map(_attachment_part, regular)], boundaries)
    return body


def _boundaries(message_id: str) -> list[str]:
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:20]
    return [f"=_scaisend_{digest}_{n}" for n in (3, 2, 1)]


def _container(kind: str, children: list[_Part], boundaries: list[str]) -> _Part:
    if len(children) == 1:
        return children[0]
    boundary = boundaries.pop()
    content_type = headers.with_params(
        "Content-Type", f"multipart/{kind}", [("boundary", boundary)]
    )
    return _Part(content_type, children=children, boundary=boundary)


def _write(document: MimeDocument, part: _Part) -> None:
    """The part's content headers were already written; its blank line and body follow."""
    document.pieces.append(part.headers.encode("ascii") + b"\r\n")
    if not part.children:
        if part.body is not None:
            document.pieces.append(part.body)
        return
    delimiter = f"--{part.boundary}".encode()
    for child in part.children:
        document.pieces.append(delimiter + b"\r\n")
        _write(document, child)
        document.pieces.append(b"\r\n")
    document.pieces.append(delimiter + b"--\r\n")
