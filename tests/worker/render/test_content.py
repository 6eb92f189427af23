"""Choosing and rendering subject, text and HTML: dynamic and legacy templates, raw content,
substitutions and sections, unsubscribe placeholders, generated plain text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scaisend_core.models import EmailMessage
from scaisend_core.templating import TemplateCache
from scaisend_worker.render.content import TemplateSource, render_content, replace_all
from scaisend_worker.render.plaintext import html_to_text

UNSUBSCRIBE = "http://scaisend.test/t/u/tok"


def message(**fields: Any) -> EmailMessage:
    defaults: dict[str, Any] = {
        "id": "msg_1", "tenant_id": "tnt_1", "from_email": "a@example.test",
        "message_id_header": "<msg_1@x>", "subject": "Request subject",
        "content": [{"type": "text/plain", "value": "Body text"},
                    {"type": "text/html", "value": "<p>Body html</p>"}],
    }  # fmt: skip
    return EmailMessage(**{**defaults, **fields})


def version(dynamic: bool = True, **fields: Any) -> TemplateSource:
    values: dict[str, Any] = {
        "version_id": "v_1", "updated_at": datetime(2026, 1, 1, tzinfo=UTC), "dynamic": dynamic,
        "subject": None, "html": None, "plain": None, "generate_plain": True,
    }  # fmt: skip
    return TemplateSource(**{**values, **fields})


def render(msg: EmailMessage, template: TemplateSource | None = None) -> Any:
    return render_content(msg, template, TemplateCache(), UNSUBSCRIBE)


def test_raw_content_is_used_as_sent() -> None:
    out = render(message())

    assert (out.subject, out.text, out.html) == ("Request subject", "Body text", "<p>Body html</p>")


def test_amp_and_other_content_types_are_kept_in_order() -> None:
    content = [
        {"type": "text/plain", "value": "t"},
        {"type": "text/x-amp-html", "value": "<amp>"},
        {"type": "text/html", "value": "<p>h</p>"},
    ]

    out = render(message(content=content))

    assert out.others == (("text/x-amp-html", "<amp>"),)


def test_dynamic_template_subject_wins_over_the_request_subject() -> None:
    template = version(subject="Order {{id}}", html="<p>{{id}}</p>", plain="#{{id}}")

    out = render(message(dynamic_template_data={"id": 9}), template)

    assert (out.subject, out.html, out.text) == ("Order 9", "<p>9</p>", "#9")


def test_an_empty_template_subject_falls_back_to_the_request_subject() -> None:
    out = render(message(), version(html="<p>x</p>"))

    assert out.subject == "Request subject"


def test_plain_text_is_generated_only_when_asked() -> None:
    generated = render(message(), version(html="<h1>Hi</h1><p>there</p>"))
    not_generated = render(message(), version(html="<p>x</p>", generate_plain=False))

    assert generated.text == "Hi\n\nthere\n"
    assert not_generated.text is None


def test_sendgrid_unsubscribe_placeholders_are_filled() -> None:
    template = version(
        html='<a href="{{{unsubscribe}}}">u</a> <a href="{{{unsubscribe_preferences}}}">p</a>'
    )

    out = render(message(), template)

    assert out.html == f'<a href="{UNSUBSCRIBE}">u</a> <a href="{UNSUBSCRIBE}">p</a>'


def test_the_senders_own_unsubscribe_value_wins() -> None:
    out = render(
        message(dynamic_template_data={"unsubscribe": "https://mine"}),
        version(html="{{{unsubscribe}}}"),
    )

    assert out.html == "https://mine"


def test_raw_asm_placeholders_are_filled_in_raw_content() -> None:
    content = [{"type": "text/html", "value": '<a href="<%asm_group_unsubscribe_raw_url%>">x</a>'},
               {"type": "text/plain", "value": "Prefs: <%asm_preferences_raw_url%>"}]  # fmt: skip

    out = render(message(content=content))

    assert out.html == f'<a href="{UNSUBSCRIBE}">x</a>'
    assert out.text == f"Prefs: {UNSUBSCRIBE}"


def test_legacy_template_wraps_the_request_body_and_subject() -> None:
    template = version(
        dynamic=False,
        subject="[Acme] <%subject%>",
        html="<div><%body%></div><p>-name-</p>",
        plain="== <%body%> ==",
    )

    out = render(message(substitutions={"-name-": "Ada"}), template)

    assert out.subject == "[Acme] Request subject"
    assert out.html == "<div><p>Body html</p></div><p>Ada</p>"
    assert out.text == "== Body text =="


def test_substitutions_are_one_pass_and_longest_key_first() -> None:
    table = {"%name%": "%first%", "%first%": "Ada", "%name_full%": "Ada Lovelace"}

    assert replace_all("%name% / %name_full% / %first%", table) == "%first% / Ada Lovelace / Ada"


def test_html_to_text_keeps_structure_and_link_targets() -> None:
    html = (
        "<html><head><style>p{color:red}</style><title>T</title></head><body>"
        "<h1>Welcome</h1><p>Hello <b>Ada</b>,<br>see <a href='https://x.example/a'>this</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><script>var x=1;</script></body></html>"
    )

    assert html_to_text(html) == (
        "Welcome\n\nHello Ada,\nsee this (https://x.example/a).\n\n- one\n- two\n"
    )
