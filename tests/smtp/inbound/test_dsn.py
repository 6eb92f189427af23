"""RFC 3464 DSNs from real Postfix and in the formats of Gmail, Office 365 and Exim."""

from __future__ import annotations

from scaisend_smtp.inbound.dsn import parse_dsn
from scaisend_smtp.inbound.mime import parse_bytes
from scaisend_smtp.inbound.reports import DeliveryReport
from tests.smtp.inbound.goldens import DATA, GOLDEN


def dsn(name: str) -> DeliveryReport:
    report = parse_dsn(parse_bytes((DATA / name).read_bytes()))
    assert report is not None
    return report


def test_postfix_hard_bounce_names_recipient_status_and_returned_message() -> None:
    report = dsn("postfix_hard_bounce.eml")
    (block,) = report.recipients
    assert (block.action, block.status, block.final_recipient) == (
        "failed", "5.1.1", "nosuchuser@scaisend.test",
    )  # fmt: skip
    assert block.diagnostic == 'unknown user: "nosuchuser"'
    assert report.reporting_mta == "mx.scaisend.test"
    assert report.returned.scaisend_message_id == GOLDEN["hard"].message_id
    assert report.returned.message_id == GOLDEN["hard"].message_id_header


def test_postfix_multi_recipient_dsn_has_one_block_per_failed_recipient() -> None:
    report = dsn("postfix_multi_recipient.eml")
    assert [(b.final_recipient, b.action, b.status) for b in report.recipients] == [
        ("ghost1@scaisend.test", "failed", "5.1.1"),
        ("ghost2@scaisend.test", "failed", "5.1.1"),
    ]
    assert report.returned.return_path is not None
    assert report.returned.return_path.startswith("bounces+m01jx5n3q7g0000000000000a02-")


def test_postfix_remote_rejection_keeps_the_remote_reply() -> None:
    (block,) = dsn("postfix_remote_block.eml").recipients
    assert block.status == "5.7.1"
    assert block.reply_code == 550
    assert block.diagnostic == "550 5.7.1 Message rejected due to content restrictions (policy)"
    assert block.remote_mta == "127.0.0.1"


def test_postfix_delay_warning_is_a_delayed_action_with_headers_only() -> None:
    report = dsn("postfix_delayed.eml")
    (block,) = report.recipients
    assert (block.action, block.status) == ("delayed", "4.4.1")
    assert report.returned.scaisend_message_id == GOLDEN["slow"].message_id


def test_postfix_expired_message_fails_with_a_temporary_status() -> None:
    (block,) = dsn("postfix_expired.eml").recipients
    assert (block.action, block.status) == ("failed", "4.4.1")
    assert block.diagnostic == "connect to 127.0.0.1[127.0.0.1]:2599: Connection refused"


def test_gmail_dsn_unfolds_the_multiline_reply() -> None:
    report = dsn("gmail_hard_bounce.eml")
    (block,) = report.recipients
    assert (block.final_recipient, block.status, block.reply_code) == (
        "nosuchuser@gmail.com", "5.1.1", 550,
    )  # fmt: skip
    assert block.diagnostic is not None
    assert "\n" not in block.diagnostic
    assert "The email account that you tried to reach does not exist" in block.diagnostic
    assert report.reporting_mta == "googlemail.com"
    assert report.returned.scaisend_message_id == GOLDEN["gmail"].message_id


def test_office365_ndr_reads_status_and_rfc822_headers_part() -> None:
    report = dsn("office365_recipient_not_found.eml")
    (block,) = report.recipients
    assert (block.status, block.reply_code) == ("5.1.10", 550)
    assert block.diagnostic is not None
    assert block.diagnostic.startswith("550 5.1.10 RESOLVER.ADR.RecipientNotFound")
    assert report.returned.message_id == GOLDEN["office365"].message_id_header
    assert report.returned.return_path == (
        "bounces+r01jx5n3q7g0000000000000b08-tim7bbgvju62e@bounces.scaisend.test"
    )


def test_exim_dsn_with_vague_status_keeps_the_specific_diagnostic() -> None:
    (block,) = dsn("exim_remote_rejected.eml").recipients
    assert (block.action, block.status, block.reply_code) == ("failed", "5.0.0", 550)
    assert block.diagnostic == (
        "550 5.1.1 <someone@remote.test>: Recipient address rejected: User unknown"
    )


def test_exim_dsn_without_diagnostic_code_takes_the_reason_from_the_notice() -> None:
    report = dsn("exim_local_unrouteable.eml")
    (block,) = report.recipients
    assert (block.final_recipient, block.status) == ("nosuchuser@scaisend.test", "5.0.0")
    assert block.diagnostic == "nosuchuser@scaisend.test Unrouteable address"
    assert report.returned.scaisend_message_id == GOLDEN["exim_local"].message_id
