"""Telling report kinds apart, and hostile input: never an exception, always a reason."""

from __future__ import annotations

import pytest

from scaisend_smtp.inbound.parse import parse_report
from scaisend_smtp.inbound.reports import (
    DeliveryReport,
    FeedbackReport,
    Unrecognised,
    report_kind,
)
from tests.smtp.inbound.goldens import DATA, GOLDEN


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("postfix_hard_bounce.eml", "dsn"),
        ("postfix_delayed.eml", "dsn"),
        ("gmail_hard_bounce.eml", "dsn"),
        ("office365_recipient_not_found.eml", "dsn"),
        ("exim_remote_rejected.eml", "dsn"),
        ("exim_local_unrouteable.eml", "dsn"),
        ("yahoo_plaintext.eml", "bounce_text"),
        ("exchange2003_plaintext.eml", "bounce_text"),
        ("arf_rfc5965_sample.eml", "arf"),
        ("arf_yahoo.eml", "arf"),
        ("arf_microsoft_jmrp.eml", "arf"),
        ("not_a_report.eml", "unknown"),
    ],
)
def test_each_golden_is_recognised_as_its_kind(name: str, kind: str) -> None:
    assert report_kind(parse_report((DATA / name).read_bytes())) == kind


def test_wrong_charsets_still_yield_the_bounce_and_its_correlation_headers() -> None:
    report = parse_report((DATA / "hostile_wrong_charsets.eml").read_bytes())
    assert isinstance(report, DeliveryReport)
    (block,) = report.recipients
    assert (block.final_recipient, block.status) == ("nosuchuser@scaisend.test", "5.1.1")
    assert block.diagnostic is not None
    assert block.diagnostic.startswith("550 5.1.1 Destinataire inconnu")
    # a utf-16 label on ASCII headers must not garble them
    assert report.returned.scaisend_message_id == GOLDEN["hard"].message_id


def test_broken_mime_is_unrecognised_with_a_reason() -> None:
    report = parse_report((DATA / "hostile_broken_mime.eml").read_bytes())
    assert isinstance(report, Unrecognised)
    assert report.reason


def test_delivery_status_without_recipient_blocks_is_unrecognised() -> None:
    report = parse_report((DATA / "hostile_dsn_missing_recipient_blocks.eml").read_bytes())
    assert report == Unrecognised("delivery-status part without a usable recipient block")


def test_huge_headers_do_not_break_parsing() -> None:
    raw = (DATA / "postfix_hard_bounce.eml").read_bytes()
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 990) for i in range(5000))
    folded = b"X-Folded: " + b"\r\n ".join([b"b" * 70] * 20000) + b"\r\n"
    report = parse_report(filler + folded + raw)
    assert isinstance(report, DeliveryReport)
    assert report.recipients[0].status == "5.1.1"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary",
        b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b\r\n",
        b"Content-Type: message/feedback-report\r\n\r\nFeedback-Type:\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + b"--x\r\n" * 10000,
    ],
)
def test_hostile_input_never_raises(raw: bytes) -> None:
    report = parse_report(raw)
    assert isinstance(report, DeliveryReport | FeedbackReport | Unrecognised)
