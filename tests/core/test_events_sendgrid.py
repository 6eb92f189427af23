"""ScaiSend events rendered as SendGrid Event Webhook objects (sendgrid-v3 §3.2, §3.3)."""

from __future__ import annotations

from scaisend_core.events import EventEnvelope, EventType, SendGridContext, to_sendgrid_event

CTX = SendGridContext(
    categories=["welcome"],
    custom_args={"userid": "1123", "email": "spoofed@example.com"},
    asm_group_id=7,
    smtp_id="<m1@mta.test>",
)


def envelope(event_type: EventType, **metadata: object) -> EventEnvelope:
    return EventEnvelope(
        event_id="evt_1", event_type=event_type, timestamp=1700000000, message_id="msg_1",
        recipient_email="ada@example.com", tenant_id="tnt_1", metadata=metadata,
    )  # fmt: skip


def test_common_fields_and_custom_args_at_the_top_level() -> None:
    event = to_sendgrid_event(envelope(EventType.PROCESSED, send_at=1700000100), CTX)

    assert event == {
        "userid": "1123",
        "email": "ada@example.com",  # reserved keys win over custom args
        "timestamp": 1700000000,
        "event": "processed",
        "sg_event_id": "evt_1",
        "sg_message_id": "msg_1",
        "smtp-id": "<m1@mta.test>",
        "category": ["welcome"],
        "asm_group_id": 7,
        "send_at": 1700000100,
    }


def test_deferred_carries_the_response_and_a_string_attempt() -> None:
    event = to_sendgrid_event(
        envelope(EventType.DEFERRED, smtp_response="451 later", attempt=3), CTX
    )
    assert (event["response"], event["attempt"]) == ("451 later", "3")


def test_a_block_is_a_bounce_of_type_blocked() -> None:
    event = to_sendgrid_event(
        envelope(EventType.BLOCKED, reason="550 blocked", status="5.7.1",
                 bounce_classification="Reputation"),
        CTX,
    )  # fmt: skip
    assert (event["event"], event["type"], event["reason"], event["status"]) == (
        "bounce", "blocked", "550 blocked", "5.7.1",
    )  # fmt: skip
    assert event["bounce_classification"] == "Reputation"


def test_spam_reports_are_spamreport() -> None:
    assert to_sendgrid_event(envelope(EventType.SPAM_REPORT), CTX)["event"] == "spamreport"


def test_clicks_carry_url_ip_and_user_agent_but_no_smtp_id() -> None:
    event = to_sendgrid_event(
        envelope(EventType.CLICK, url="https://x.test", ip="198.51.100.1", user_agent="UA/1"), CTX
    )
    assert (event["url"], event["ip"], event["useragent"]) == (
        "https://x.test",
        "198.51.100.1",
        "UA/1",
    )
    assert "smtp-id" not in event


def test_delivered_tls_is_an_integer_as_sendgrid_sends_it() -> None:
    event = to_sendgrid_event(envelope(EventType.DELIVERED, smtp_response="250 OK", tls=True), CTX)
    assert (event["response"], event["tls"]) == ("250 OK", 1)


def test_dropped_prefers_sendgrids_reason_text() -> None:
    event = to_sendgrid_event(
        envelope(EventType.DROPPED, reason="suppressed_bounce", sendgrid_reason="Bounced Address"),
        CTX,
    )
    assert (event["reason"], event["status"]) == ("Bounced Address", "5.0.0")
