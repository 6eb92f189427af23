"""Which message a report is about, and which of its recipients: by signed VERP return path
first (the envelope recipient, or the Return-Path kept in the returned message), then by the
returned message's X-ScaiSend-Message-Id, then by its Message-ID."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.models import MessageRecipient
from scaisend_core.repositories.messages import LoadedMessage, load_message
from scaisend_core.verp import Verp
from scaisend_smtp.inbound import repository
from scaisend_smtp.inbound.reports import Returned

_MESSAGE_ID = re.compile(r"^msg_[0-9A-Za-z]{26}$")


@dataclass(frozen=True, slots=True)
class Correlation:
    loaded: LoadedMessage
    via: Literal["verp", "x-scaisend-message-id", "message-id"]
    recipient_id: str | None = None  # a recipient VERP names exactly one recipient

    def recipient(self, addresses: Iterable[str]) -> MessageRecipient | None:
        """The recipient a report block is about: the VERP one, else the first address the
        report names that we sent to, else the only recipient there is."""
        rows = self.loaded.recipients
        if self.recipient_id is not None:
            return next((r for r in rows if r.id == self.recipient_id), None)
        by_email = {r.email.strip().lower(): r for r in rows}
        found = next((by_email[a] for a in addresses if a in by_email), None)
        return found or (rows[0] if len(rows) == 1 else None)


async def correlate(
    session: AsyncSession, verp: Verp, return_paths: Iterable[str | None], returned: Returned
) -> Correlation | None:
    for address in return_paths:
        found = await _by_verp(session, verp, address) if address else None
        if found is not None:
            return found
    scaisend_id = returned.scaisend_message_id or ""
    if _MESSAGE_ID.match(scaisend_id):
        loaded = await load_message(session, "msg_" + scaisend_id[4:].upper())
        if loaded is not None:
            return Correlation(loaded, "x-scaisend-message-id")
    message_id = await _by_header(session, returned.message_id)
    loaded = await load_message(session, message_id) if message_id else None
    return Correlation(loaded, "message-id") if loaded is not None else None


async def _by_verp(session: AsyncSession, verp: Verp, address: str) -> Correlation | None:
    parsed = verp.parse(address)
    if parsed is None:
        return None
    if parsed.kind == "message":
        loaded = await load_message(session, parsed.id)
        return Correlation(loaded, "verp") if loaded is not None else None
    recipient = await repository.recipient_by_id(session, parsed.id)
    loaded = await load_message(session, recipient.message_id) if recipient else None
    if loaded is None or recipient is None:
        return None
    return Correlation(loaded, "verp", recipient_id=recipient.id)


async def _by_header(session: AsyncSession, value: str | None) -> str | None:
    return await repository.message_id_for_header(session, value) if value else None
