"""The bounce classifier: the docs' three examples, enhanced codes, and text fallbacks."""

from __future__ import annotations

import pytest

from scaisend_smtp.bounces import classify, enhanced_status


@pytest.mark.parametrize(
    ("code", "text", "bounce_type", "status"),
    [
        (550, "5.1.1 User unknown", "hard", "5.1.1"),
        (552, "5.2.2 Mailbox full", "soft", "5.2.2"),
        (550, "5.7.1 Message rejected due to content", "block", "5.7.1"),
        (550, "5.7.26 DMARC policy violation", "block", "5.7.26"),
        (554, "Service unavailable; client host blocked using zen.spamhaus.org", "block", "5.0.0"),
        (550, "Requested action not taken: mailbox unavailable", "hard", "5.0.0"),
        (552, "Message size exceeds fixed maximum message size", "soft", "5.0.0"),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound", "hard", "5.1.10"),
        (550, "Something odd happened", "hard", "5.0.0"),
    ],
)
def test_classification_follows_code_then_text(
    code: int, text: str, bounce_type: str, status: str
) -> None:
    result = classify(code, text)
    assert (result.bounce_type, result.status) == (bounce_type, status)


def test_office365_access_denied_for_an_unknown_recipient_is_a_hard_bounce() -> None:
    # Exchange Online's directory-based edge blocking refuses an address its tenant does not
    # have with 5.4.1 (a routing code) and "Access denied" (policy words): the address is bad.
    reply = (
        "5.4.1 Recipient address rejected: Access denied. AS(201806281) "
        "[BN1NAM02FT022.eop-nam02.prod.protection.outlook.com]"
    )
    result = classify(550, reply)
    assert (result.bounce_type, result.status) == ("hard", "5.4.1")
    assert result.classification == "Invalid Address"


@pytest.mark.parametrize(
    ("text", "bounce_type"),
    [
        ("5.4.4 Unable to route: no mail hosts for domain", "hard"),
        ("5.4.6 Routing loop detected", "hard"),
        ("5.4.7 Delivery time expired", "soft"),
        ("4.4.1 No answer from host", "soft"),
    ],
)
def test_network_and_routing_failures_are_technical(text: str, bounce_type: str) -> None:
    result = classify(554, text)
    assert (result.bounce_type, result.classification) == (bounce_type, "Technical")


@pytest.mark.parametrize(
    ("text", "classification"),
    [
        ("5.1.1 User unknown", "Invalid Address"),
        ("5.2.2 Mailbox full", "Mailbox Unavailable"),
        ("5.7.1 Message rejected as spam", "Content"),
        ("5.7.1 Client host blocked using zen.spamhaus.org", "Reputation"),
    ],
)
def test_sendgrid_bounce_classification(text: str, classification: str) -> None:
    assert classify(550, text).classification == classification


def test_explicit_enhanced_code_wins_over_text() -> None:
    assert classify(550, "blocked for spam", enhanced="5.1.1").bounce_type == "hard"


def test_enhanced_status_is_found_inside_a_reply() -> None:
    assert enhanced_status("550-5.1.1 The email account does not exist") == "5.1.1"
    assert enhanced_status("550 no code here") is None
