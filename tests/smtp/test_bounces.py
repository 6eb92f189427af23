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


def test_explicit_enhanced_code_wins_over_text() -> None:
    assert classify(550, "blocked for spam", enhanced="5.1.1").bounce_type == "hard"


def test_enhanced_status_is_found_inside_a_reply() -> None:
    assert enhanced_status("550-5.1.1 The email account does not exist") == "5.1.1"
    assert enhanced_status("550 no code here") is None
