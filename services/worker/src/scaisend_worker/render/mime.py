"""The RFC 5322 message, unsigned (the SMTP service DKIM-signs it): headers folded and
RFC 2047-encoded by the stdlib's SMTP policy, multipart/alternative text+HTML, related for CID
images, mixed for attachments. Attachment bytes are streamed from object storage into base64
where the skeleton leaves a placeholder, so a large attachment is never held whole in memory.

Boundaries derive from the message id, so re-rendering a message yields the same structure.
There is no Return-Path: the SMTP service sets the VERP envelope sender."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.message import MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime

from scaisend_core.storage import Storage


class _MailPolicy(EmailPolicy):
    """The SMTP policy, except that an ASCII header holding a word too long for one 78-column
    line (a List-Unsubscribe URL, a long token) is folded at its spaces and otherwise left
    long (RFC 5322 allows 998), where the stdlib would cut it into RFC 2047 encoded words and
    so corrupt the URL."""

    def fold(self, name: str, value: str) -> str:
        return self._verbatim(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        verbatim = self._verbatim(name, value)
        return verbatim.encode("ascii") if verbatim else super().fold_binary(name, value)

    def _verbatim(self, name: str, value: str) -> str | None:
        text = str(value)
        if not text.isascii() or "\r" in text or "\n" in text:
            return None
        first = (self.max_line_length or MAX_LINE) - len(name) - 2
        if all(len(word) <= first for word in text.split()):
            return None
        lines, current, room = [], "", first
        for word in text.split():
            if current and len(current) + 1 + len(word) > room:
                lines.append(current)
                current, room = word, (self.max_line_length or MAX_LINE) - 1
            else:
                current = f"{current} {word}" if current else word
        lines.append(current)
        return f"{name}: " + f"{self.linesep} ".join(lines) + self.linesep


MAX_LINE = 78
# 7bit: bodies become quoted-printable or base64, safe for an MX without 8BITMIME.
POLICY = _MailPolicy(linesep="\r\n", cte_type="7bit")
BASE64_LINE = 57  # input bytes per 76-character base64 line
OUR_HEADERS = frozenset({"message-id", "date", "mime-version", "x-scaisend-message-id"})


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
        message = _headers(c)
        placeholders = _body(message, c)
        raw = message.as_bytes(policy=POLICY)
    except (ValueError, TypeError, IndexError) as exc:
        raise MimeError(f"cannot build the MIME message: {exc}") from exc
    return _split(raw, placeholders)


def _mailbox(box: Mailbox) -> Address:
    return Address(display_name=box.name or "", addr_spec=box.email)


def _headers(c: Composition) -> MimeMessage:
    message = MimeMessage(policy=POLICY)
    message["From"] = _mailbox(c.sender)
    if c.to:
        message["To"] = [_mailbox(b) for b in c.to]
    if c.cc:
        message["Cc"] = [_mailbox(b) for b in c.cc]
    if c.reply_to:
        message["Reply-To"] = [_mailbox(b) for b in c.reply_to]
    message["Subject"] = c.subject
    message["Date"] = format_datetime(c.date)
    message["Message-ID"] = c.message_id_header
    message["MIME-Version"] = "1.0"
    message["X-ScaiSend-Message-Id"] = c.message_id
    for name, value in c.headers.items():
        if name.lower() not in OUR_HEADERS:
            message[name] = value
    return message


def _text_part(body: str, subtype: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part.set_content(body, subtype=subtype, charset="utf-8")
    return part


def _alternatives(c: Composition) -> list[MIMEPart]:
    parts = [_text_part(c.text, "plain")] if c.text is not None else []
    parts += [_text_part(body, kind.partition("/")[2] or "plain") for kind, body in c.others]
    if c.html is not None:
        parts.append(_text_part(c.html, "html"))
    return parts or [_text_part("", "plain")]


def _attachment_part(ref: AttachmentRef, token: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part["Content-Type"] = ref.content_type or "application/octet-stream"
    part.set_param("name", ref.filename)
    part.add_header("Content-Disposition", ref.disposition, filename=ref.filename)
    if ref.content_id:
        part["Content-ID"] = f"<{ref.content_id.strip('<>')}>"
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(token)
    return part


def _body(message: MimeMessage, c: Composition) -> dict[str, AttachmentRef]:
    """Assemble the tree under the top-level message; returns placeholder -> attachment."""
    nonce = secrets.token_hex(8)
    placeholders: dict[str, AttachmentRef] = {}

    def attach(ref: AttachmentRef) -> MIMEPart:
        token = f"@@scaisend-attachment-{len(placeholders)}-{nonce}@@"
        placeholders[token] = ref
        return _attachment_part(ref, token)

    inline = [a for a in c.attachments if a.disposition == "inline" and a.content_id and c.html]
    regular = [a for a in c.attachments if a not in inline]
    boundaries = _boundaries(c.message_id)
    body = _container("alternative", _alternatives(c), boundaries)
    if inline:
        body = _container("related", [body, *(attach(a) for a in inline)], boundaries)
    if regular:
        body = _container("mixed", [body, *(attach(a) for a in regular)], boundaries)
    _adopt(message, body)
    return placeholders


def _boundaries(message_id: str) -> list[str]:
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:20]
    return [f"=_scaisend_{digest}_{n}" for n in (3, 2, 1)]


def _container(kind: str, children: list[MIMEPart], boundaries: list[str]) -> MIMEPart:
    if len(children) == 1:
        return children[0]
    container = MIMEPart(policy=POLICY)
    container["Content-Type"] = f"multipart/{kind}"
    container.set_boundary(boundaries.pop())
    for child in children:
        container.attach(child)
    return container


def _adopt(message: MimeMessage, body: MIMEPart) -> None:
    """Move the body tree's content headers and payload onto the top-level message."""
    for name, value in body.items():
        message[name] = value
    message.set_payload(body.get_payload())


def _split(raw: bytes, placeholders: dict[str, AttachmentRef]) -> MimeDocument:
    document = MimeDocument()
    rest = raw
    for token, ref in placeholders.items():
        before, found, rest = rest.partition(token.encode())
        if not found:
            raise MimeError("attachment placeholder missing from the serialised message")
        document.pieces += [before, ref]
    document.pieces.append(rest)
    return document
