"""Bounces without a delivery-status part: flufl.bounce finds the address, the heuristic the why."""

from __future__ import annotations

from scaisend_smtp.inbound.mime import parse_bytes
from scaisend_smtp.inbound.plaintext import parse_text_bounce
from scaisend_smtp.inbound.reports import DeliveryReport
from tests.smtp.inbound.goldens import DATA, GOLDEN


def text_bounce(name: str) -> DeliveryReport:
    report = parse_text_bounce(parse_bytes((DATA / name).read_bytes()))
    assert report is not None
    return report


def test_yahoo_notice_yields_address_reply_code_and_inline_original() -> None:
    report = text_bounce("yahoo_plaintext.eml")
    (block,) = report.recipients
    assert (block.action, block.final_recipient, block.reply_code) == (
        "failed", "gone.user@yahoo.com", 554,
    )  # fmt: skip
    assert block.diagnostic is not None
    assert "This user doesn't have a yahoo.com account" in block.diagnostic
    assert report.returned.scaisend_message_id == GOLDEN["yahoo"].message_id
    assert report.returned.return_path is not None


def test_exchange_2003_notice_picks_the_window_with_the_status_code() -> None:
    report = text_bounce("exchange2003_plaintext.eml")
    (block,) = report.recipients
    assert (block.final_recipient, block.status) == ("j.doe@legacy.example", "5.1.1")
    assert block.diagnostic is not None
    assert "does not exist at the organization" in block.diagnostic
    assert report.returned.scaisend_message_id == GOLDEN["exchange"].message_id


def test_a_message_that_is_not_a_bounce_yields_nothing() -> None:
    assert parse_text_bounce(parse_bytes((DATA / "not_a_report.eml").read_bytes())) is None
