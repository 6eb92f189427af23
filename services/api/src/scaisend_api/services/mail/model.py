"""The validated /v3/mail/send request: plain dataclasses the send pipeline turns into rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name} if self.name else {"email": self.email}


@dataclass(frozen=True, slots=True)
class Attachment:
    content: bytes
    filename: str
    type: str
    disposition: str
    content_id: str | None
    sha256: str


@dataclass(slots=True)
class Personalization:
    index: int
    to: list[Address]
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    substitutions: dict[str, str] = field(default_factory=dict)
    dynamic_template_data: dict[str, Any] | None = None
    custom_args: dict[str, str] = field(default_factory=dict)
    send_at: int | None = None
    from_: Address | None = None

    @property
    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)


@dataclass(slots=True)
class MailRequest:
    personalizations: list[Personalization]
    from_: Address
    reply_to: list[Address] = field(default_factory=list)
    subject: str | None = None
    content: list[dict[str, str]] = field(default_factory=list)
    template_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    custom_args: dict[str, str] = field(default_factory=dict)
    send_at: int | None = None
    batch_id: str | None = None
    asm_group_id: int | None = None
    asm_groups_to_display: list[int] = field(default_factory=list)
    ip_pool_name: str | None = None
    mail_settings: dict[str, Any] = field(default_factory=dict)
    tracking_settings: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def sandbox_mode(self) -> bool:
        sandbox = self.mail_settings.get("sandbox_mode")
        return isinstance(sandbox, dict) and sandbox.get("enable") is True

    def send_at_of(self, p: Personalization) -> int | None:
        return p.send_at if p.send_at is not None else self.send_at

    def from_of(self, p: Personalization) -> Address:
        return p.from_ or self.from_
