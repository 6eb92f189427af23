"""The messages behind the golden DSN/ARF files in tests/data/inbound: fixed ids, so a golden's
VERP return path and X-ScaiSend-Message-Id point at rows a test can create."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

DATA = Path(__file__).resolve().parents[2] / "data" / "inbound"
BOUNCE_HOST = "bounces.scaisend.test"


@dataclass(frozen=True, slots=True)
class GoldenRecipient:
    id: str
    email: str


@dataclass(frozen=True, slots=True)
class GoldenMessage:
    message_id: str
    recipients: tuple[GoldenRecipient, ...]
    subject: str
    verp: Literal["recipient", "message"] = "recipient"

    @property
    def verp_id(self) -> str:
        return self.recipients[0].id if self.verp == "recipient" else self.message_id

    @property
    def message_id_header(self) -> str:
        return f"<{self.message_id.lower()}@mta.scaisend.test>"


def _r(n: int, email: str) -> GoldenRecipient:
    return GoldenRecipient(f"rcp_01JX5N3Q7G0000000000000B{n:02d}", email)


def _m(n: int) -> str:
    return f"msg_01JX5N3Q7G0000000000000A{n:02d}"


# Sent through a real Postfix by make_postfix_goldens.py.
POSTFIX = {
    "hard": GoldenMessage(_m(1), (_r(1, "nosuchuser@scaisend.test"),), "Invoice 1001"),
    "multi": GoldenMessage(
        _m(2),
        (_r(2, "ghost1@scaisend.test"), _r(3, "ghost2@scaisend.test"), _r(4, "reader@inbox.test")),
        "Team update",
        verp="message",
    ),
    "block": GoldenMessage(_m(3), (_r(5, "someone@remote.test"),), "Weekly digest"),
    "slow": GoldenMessage(_m(4), (_r(6, "late@slow.test"),), "Password reset"),
}
# Sent through a real Exim 4.96 by make_exim_goldens.py.
EXIM = {
    "exim_local": GoldenMessage(_m(12), (_r(14, "nosuchuser@scaisend.test"),), "Order shipped"),
    "exim_remote": GoldenMessage(_m(13), (_r(15, "someone@remote.test"),), "Order confirmed"),
}
# Written after the providers' formats (see tests/data/inbound/README.md).
PROVIDERS = {
    "gmail": GoldenMessage(_m(5), (_r(7, "nosuchuser@gmail.com"),), "Welcome aboard"),
    "office365": GoldenMessage(_m(6), (_r(8, "former.employee@contoso.example"),), "Receipt"),
    "yahoo": GoldenMessage(_m(8), (_r(10, "gone.user@yahoo.com"),), "Shipping update"),
    "exchange": GoldenMessage(_m(9), (_r(11, "j.doe@legacy.example"),), "Meeting notes"),
    "arf_yahoo": GoldenMessage(_m(10), (_r(12, "complainer@yahoo.com"),), "Spring sale"),
    "arf_microsoft": GoldenMessage(_m(11), (_r(13, "someone@outlook.com"),), "Newsletter"),
}
GOLDEN = {**POSTFIX, **EXIM, **PROVIDERS}


def original(golden: GoldenMessage) -> EmailMessage:
    """The message we "sent", as the Postfix/Exim golden generators submit it."""
    msg = EmailMessage()
    msg["From"] = "Acme Billing <billing@acme.example>"
    msg["To"] = ", ".join(r.email for r in golden.recipients)
    msg["Subject"] = golden.subject
    msg["Date"] = "Tue, 03 Mar 2026 10:15:00 +0000"
    msg["Message-ID"] = golden.message_id_header
    msg["X-ScaiSend-Message-Id"] = golden.message_id
    msg.set_content("Your invoice is attached.\n")
    return msg
