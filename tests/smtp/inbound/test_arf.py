"""RFC 5965 feedback reports: the RFC's own sample and provider-style reports."""

from __future__ import annotations

from scaisend_smtp.inbound.arf import parse_arf
from scaisend_smtp.inbound.mime import parse_bytes
from scaisend_smtp.inbound.reports import FeedbackReport
from tests.smtp.inbound.goldens import DATA, GOLDEN


def arf(name: str) -> FeedbackReport:
    report = parse_arf(parse_bytes((DATA / name).read_bytes()))
    assert report is not None
    return report


def test_rfc5965_sample_fields() -> None:
    report = arf("arf_rfc5965_sample.eml")
    assert (report.feedback_type, report.user_agent, report.version) == (
        "abuse", "SomeGenerator/1.0", "1",
    )  # fmt: skip
    assert report.original_rcpt_to == ("user@example.com",)
    assert report.original_mail_from == "somespammer@example.net"
    assert (report.source_ip, report.reported_domain) == ("192.0.2.1", "example.net")
    assert report.reporting_mta == "mail.example.com"
    assert report.returned.message_id == "8787KJKJ3K4J3K4J3K4J3.mail@example.net"
    assert report.is_complaint


def test_yahoo_report_carries_recipient_and_our_headers() -> None:
    report = arf("arf_yahoo.eml")
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert report.original_rcpt_to == ("complainer@yahoo.com",)
    assert report.arrival_date == "Tue, 03 Mar 2026 10:15:08 +0000"  # from Received-Date
    assert report.returned.scaisend_message_id == GOLDEN["arf_yahoo"].message_id


def test_microsoft_report_with_redacted_recipient_keeps_the_verp_return_path() -> None:
    report = arf("arf_microsoft_jmrp.eml")
    assert report.original_rcpt_to == ()
    assert report.returned.recipients == ()
    assert report.returned.return_path == (
        "bounces+r01jx5n3q7g0000000000000b13-nbtm6azjphnle@bounces.scaisend.test"
    )
    assert report.source_ip == "198.51.100.25"


def test_report_without_the_original_message_still_parses() -> None:
    report = arf("hostile_arf_missing_original.eml")
    assert report.feedback_type == "abuse"
    assert report.returned.message_id is None
    assert report.returned.scaisend_message_id is None
