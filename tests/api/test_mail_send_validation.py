"""/v3/mail/send validation, rule by rule: each bad body is a 400 whose SendGrid-shaped
`errors[]` names the field path and gives the documented message; all failures come at once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.models import EmailMessage, Tenant
from tests.api.helpers import SENDER_DOMAIN, add_template, add_verified_domain, mail_body
from tests.fixtures.factories import KeyFixture

NOW = int(datetime.now(UTC).timestamp())
B64 = base64.b64encode(b"hello").decode()
TO_REQUIRED = (
    "The to array is required for all personalization objects, and must have at least one "
    "email object with a valid email address."
)


def to(*emails: str) -> list[dict[str, str]]:
    return [{"email": e} for e in emails]


def with_personalization(**fields: Any) -> dict[str, Any]:
    return mail_body(personalizations=[{"to": to("ada@example.com"), **fields}])


def without(*names: str) -> dict[str, Any]:
    body = mail_body()
    for name in names:
        body.pop(name)
    return body


def attachment(**fields: Any) -> dict[str, Any]:
    return mail_body(attachments=[{"content": B64, "filename": "a.txt", **fields}])


# (id, body, field, message)
CASES: list[tuple[str, Any, str | None, str]] = [
    ("body not an object", [1, 2], None, "Invalid type. Expected: object, given: array."),
    ("personalizations missing", without("personalizations"), "personalizations",
     "The personalizations field is required and must have at least one personalization."),
    ("personalizations empty", mail_body(personalizations=[]), "personalizations",
     "You must have at least one personalization."),
    ("personalizations over 1000",
     mail_body(personalizations=[{"to": to("a@example.com")}] * 1001), "personalizations",
     "The personalization block is limited to 1000 personalizations per API request. You have "
     "provided 1001 personalizations. Please consider splitting this into multiple requests and "
     "resending your request."),
    ("personalization not an object", mail_body(personalizations=["x"]), "personalizations.0",
     "Invalid type. Expected: object, given: string."),
    ("to missing", mail_body(personalizations=[{"cc": to("c@example.com")}]),
     "personalizations.0.to", TO_REQUIRED),
    ("to empty", mail_body(personalizations=[{"to": []}]), "personalizations.0.to", TO_REQUIRED),
    ("to email missing", mail_body(personalizations=[{"to": [{"name": "Ada"}]}]),
     "personalizations.0.to.0.email", "The to email parameter is required."),
    ("to email invalid", mail_body(personalizations=[{"to": to("ada@example.com", "nope")}]),
     "personalizations.0.to.1.email", "Does not contain a valid address."),
    ("cc email invalid", with_personalization(cc=to("a b@example.com")),
     "personalizations.0.cc.0.email", "Does not contain a valid address."),
    ("email over 320 chars", mail_body(personalizations=[{"to": to("a" * 64 + "@" + "b" * 252 + ".com")}]),
     "personalizations.0.to.0.email", "Does not contain a valid address."),
    ("CR/LF in an address", mail_body(personalizations=[{"to": to("ada@example.com\r\nBcc: x@y.z")}]),
     "personalizations.0.to.0.email", "Does not contain a valid address."),
    ("CR/LF in a name", mail_body(personalizations=[{"to": [{"email": "a@example.com", "name": "A\nB"}]}]),
     "personalizations.0.to.0.name", "The name must be a string without CR or LF characters."),
    ("duplicate across to and cc", with_personalization(cc=to("ADA@example.com")),
     "personalizations.0.cc.0.email",
     "Each email address in the personalization block should be unique between to, cc, and bcc. "
     "We found the first duplicate instance of [ADA@example.com] in the personalizations.0.cc field."),
    ("over 1000 recipients",
     mail_body(personalizations=[{"to": to(*(f"r{i}@example.com" for i in range(1001)))}]),
     "personalizations", "There is a limit of 1000 total recipients (to + cc + bcc) per request."),
    ("from missing", without("from"), "from",
     "The from object must be provided for every email send. It is an object that requires the "
     'email parameter, but may also contain a name parameter.  e.g. {"email" : '
     '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'),
    ("from invalid", mail_body(**{"from": {"email": "acme"}}), "from.email",
     "Does not contain a valid address."),
    ("personalization from invalid", with_personalization(**{"from": {"email": "x"}}),
     "personalizations.0.from.email", "Does not contain a valid address."),
    ("reply_to and reply_to_list", mail_body(reply_to={"email": "a@example.com"},
                                              reply_to_list=to("b@example.com")),
     "reply_to_list", "reply_to and reply_to_list are mutually exclusive; use one."),
    ("reply_to_list duplicates", mail_body(reply_to_list=to("a@example.com", "A@example.com")),
     "reply_to_list.1.email", "The reply_to_list addresses must be unique."),
    ("subject missing", without("subject"), "subject",
     "The subject is required. You can get around this requirement if you use a template with a "
     "subject defined or if every personalization has a subject defined."),
    ("subject empty", mail_body(subject=""), "subject",
     "The value must be a string at least one character in length."),
    ("CR/LF in subject", mail_body(subject="Hi\r\nBcc: x@y.z"), "subject",
     "The value may not contain CR or LF characters."),
    ("content missing", without("content"), "content",
     "Unless a valid template_id is provided, the content parameter is required. There must be at "
     "least one defined content block. We typically suggest both text/plain and text/html blocks "
     "are included, but only one block is required."),
    ("content value empty", mail_body(content=[{"type": "text/plain", "value": ""}]),
     "content.0.value", "The content value must be a string at least one character in length."),
    ("content type empty", mail_body(content=[{"type": "", "value": "x"}]),
     "content.0.type", "The content type must be a string at least one character in length."),
    ("html before plain", mail_body(content=[{"type": "text/html", "value": "<p>x</p>"},
                                             {"type": "text/plain", "value": "x"}]),
     "content", "Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent "
     "in your email: text/plain needs to be first, followed by text/html, followed by any other "
     "content."),
    ("content and template_id", mail_body(template_id="d-" + "0" * 32), "content",
     "content and template_id are mutually exclusive: the template supplies the content."),
    ("legacy template id", mail_body(content=None, template_id="13b8f94f-bcae-4ec6-b752-70d6cb59f932"),
     "template_id", "The template_id must start with 'd-'"),
    ("unknown template", mail_body(content=None, template_id="d-" + "0" * 32), "template_id",
     f"The Template ID must be a valid template id for your account. You provided d-{'0' * 32}."),
    ("over 10 attachments", mail_body(attachments=[{"content": B64, "filename": "a"}] * 11),
     "attachments", "There is a limit of 10 attachments per email. You provided 11."),
    ("attachment not base64", attachment(content="not base64!"), "attachments.0.content",
     "The attachment content must be base64 encoded."),
    ("attachment content missing", attachment(content=""), "attachments.0.content",
     "The attachment content is required."),
    ("attachment filename missing", attachment(filename=None), "attachments.0.filename",
     "filename is required."),
    ("attachment filename with CR/LF", attachment(filename="a\r\n.txt"), "attachments.0.filename",
     "The attachment filename must be at most 255 characters and cannot contain ';', ',', CR or LF."),
    ("attachment type with ;", attachment(type="text/plain; charset=x"), "attachments.0.type",
     "The attachment type must be a string without ';', ',', CR or LF."),
    ("bad disposition", attachment(disposition="download"), "attachments.0.disposition",
     'The disposition of your attachment can be either "inline" or "attachment".'),
    ("inline without content_id", attachment(disposition="inline"), "attachments.0.content_id",
     "The content_id parameter is required if your attachment is inline."),
    ("reserved header", mail_body(headers={"Subject": "x"}), "headers.Subject",
     "Header can not be one of the reserved keys."),
    ("reserved header in a personalization", with_personalization(headers={"dkim-signature": "x"}),
     "personalizations.0.headers.dkim-signature", "Header can not be one of the reserved keys."),
    ("header name with a space", mail_body(headers={"X Bad": "x"}), "headers.X Bad",
     "Header names must be ASCII, without spaces or colons."),
    ("header value not a string", mail_body(headers={"X-Count": 3}), "headers.X-Count",
     "Header values must be strings."),
    ("CR/LF in a header value", mail_body(headers={"X-Trace": "a\r\nBcc: x@y.z"}), "headers.X-Trace",
     "Header values may not contain CR or LF characters."),
    ("over 10 categories", mail_body(categories=[f"c{i}" for i in range(11)]), "categories",
     "There is a limit of 10 categories for each email that is sent. You provided 11 categories."),
    ("category over 255 chars", mail_body(categories=["x" * 256]), "categories.0",
     "A category cannot have more than 255 characters."),
    ("category not ASCII", mail_body(categories=["café"]), "categories.0",
     "Categories must be ASCII text without CR or LF characters."),
    ("duplicate category", mail_body(categories=["a", "a"]), "categories.1",
     "Categories must be unique; 'a' is given more than once."),
    ("custom_args value not a string", mail_body(custom_args={"n": 1}), "custom_args.n",
     "The custom_args values must be strings."),
    ("custom_args over 10,000 bytes", mail_body(custom_args={"k": "x" * 10_000}), "custom_args",
     "The custom_args may not exceed 10,000 bytes; you provided 10,001."),
    ("merged custom_args over 10,000 bytes",
     mail_body(custom_args={"a": "x" * 6000},
               personalizations=[{"to": to("a@example.com"), "custom_args": {"b": "y" * 6000}}]),
     "personalizations.0.custom_args",
     "The custom_args may not exceed 10,000 bytes; you provided 12,002."),
    ("substitutions over 10,000 bytes", with_personalization(substitutions={"-x-": "y" * 10_000}),
     "personalizations.0.substitutions",
     "The substitutions may not exceed 10,000 bytes; you provided 10,003."),
    ("send_at not an integer", mail_body(send_at="tomorrow"), "send_at",
     "Invalid type. Expected: integer, given: string."),
    ("send_at over 72 hours", mail_body(send_at=NOW + 73 * 3600), "send_at",
     "Scheduling more than 72 hours in advance is forbidden."),
    ("personalization send_at over 72 hours", with_personalization(send_at=NOW + 80 * 3600),
     "personalizations.0.send_at", "Scheduling more than 72 hours in advance is forbidden."),
    ("unknown batch", mail_body(batch_id="batch_nope"), "batch_id",
     "The batch id must be a valid batch id for your account. You provided batch_nope."),
    ("asm group_id missing", mail_body(asm={"groups_to_display": [1]}), "asm.group_id",
     "The asm group_id is required and must be a positive integer."),
    ("unknown asm group", mail_body(asm={"group_id": 4242}), "asm.group_id",
     "The ASM group ID must be a valid Group ID on your account. You provided 4242."),
    ("over 25 groups_to_display", mail_body(asm={"group_id": 1, "groups_to_display": list(range(1, 27))}),
     "asm.groups_to_display", "The groups_to_display may list at most 25 groups."),
    ("ip_pool_name too short", mail_body(ip_pool_name="x"), "ip_pool_name",
     "The IP Pool name must be a string of 2 to 64 characters."),
    ("sandbox enable not a boolean", mail_body(mail_settings={"sandbox_mode": {"enable": "true"}}),
     "mail_settings.sandbox_mode.enable", "The sandbox mode enable param should be a boolean value."),
    ("bypass_list_management combined",
     mail_body(mail_settings={"bypass_list_management": {"enable": True},
                              "bypass_spam_management": {"enable": True}}),
     "mail_settings.bypass_list_management",
     "bypass_list_management cannot be combined with bypass_spam_management, "
     "bypass_bounce_management or bypass_unsubscribe_management."),
    ("bcc setting without email", mail_body(mail_settings={"bcc": {"enable": True}}),
     "mail_settings.bcc.email", "The bcc email must be a valid address when bcc is enabled."),
    ("spam_check threshold out of range",
     mail_body(mail_settings={"spam_check": {"enable": True, "threshold": 11}}),
     "mail_settings.spam_check.threshold", "The spam check threshold must be an integer from 1 to 10."),
    ("click tracking enable not a boolean",
     mail_body(tracking_settings={"click_tracking": {"enable": 1}}),
     "tracking_settings.click_tracking.enable", "The click tracking enable param should be a boolean value."),
    ("open tracking tag not a string",
     mail_body(tracking_settings={"open_tracking": {"enable": True, "substitution_tag": 5}}),
     "tracking_settings.open_tracking.substitution_tag", "Invalid type. Expected: string, given: integer."),
    ("sections value not a string", mail_body(sections={"%s%": ["x"]}), "sections.%s%",
     "The sections values must be strings."),
    ("dynamic_template_data not an object", with_personalization(dynamic_template_data=[1]),
     "personalizations.0.dynamic_template_data", "Invalid type. Expected: object, given: array."),
]  # fmt: skip


@pytest.fixture
async def sender(tenant: Tenant, sessions: SessionFactory) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)


def _clean(body: Any) -> Any:
    """`content=None` in a case means "no content field" (a template supplies it)."""
    if isinstance(body, dict) and body.get("content", []) is None:
        return {k: v for k, v in body.items() if k != "content"}
    return body


@pytest.mark.parametrize(
    ("body", "field", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_each_rule_is_a_400_with_its_field_and_message(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None, sessions: SessionFactory,
    body: Any, field: str | None, message: str,
) -> None:  # fmt: skip
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=_clean(body))
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert {"message": message, "field": field, "help": None} in errors, errors
    async with sessions() as session:
        assert (await session.exec(select(EmailMessage))).all() == []


async def test_every_failure_comes_back_at_once(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None
) -> None:
    body = mail_body(
        personalizations=[{"to": to("nope")}, {"to": []}],
        subject="",
        template_id="legacy-id",
        categories=["x" * 300],
    )
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "personalizations.0.to.0.email",
        "personalizations.1.to",
        "subject",
        "template_id",
        "content",
        "categories.0",
    }


async def test_a_deleted_template_cannot_be_used(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None, tenant: Tenant,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    template_id = await add_template(sessions, tenant.id, deleted=True)
    body = mail_body(template_id=template_id)
    body.pop("content")
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "template_id"


async def test_another_tenants_template_is_unknown(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None, sessions: SessionFactory,
    tenant_factory: Any,
) -> None:  # fmt: skip
    other = await tenant_factory("Other Inc")
    template_id = await add_template(sessions, other.id)
    body = mail_body(template_id=template_id)
    body.pop("content")
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    assert response.status_code == 400


async def test_the_subject_may_come_from_every_personalization_or_a_template(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None, tenant: Tenant,
    sessions: SessionFactory,
) -> None:  # fmt: skip
    body = mail_body(personalizations=[{"to": to("a@example.com"), "subject": "Hi"}])
    body.pop("subject")
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
    body = mail_body(template_id=await add_template(sessions, tenant.id))
    body.pop("subject")
    body.pop("content")
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"personalizations": [', "The request body is not valid JSON"),
        (b'{"subject": "\xff\xfe"}', "Invalid UTF8 in request"),
        (b"", "The request body is not valid JSON"),
    ],
    ids=["truncated JSON", "invalid UTF-8", "empty body"],
)
async def test_an_unreadable_body_is_400_in_the_errors_shape(
    client: httpx.AsyncClient, api_key: KeyFixture, raw: bytes, message: str
) -> None:
    response = await client.post(
        "/v3/mail/send",
        headers={**api_key.headers, "Content-Type": "application/json"},
        content=raw,
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"].startswith(message)
    assert error["field"] is None


async def test_line_wrapped_base64_is_accepted(
    client: httpx.AsyncClient, api_key: KeyFixture, sender: None
) -> None:
    wrapped = base64.encodebytes(b"x" * 200).decode()  # MIME style, a newline every 76 chars
    body = mail_body(attachments=[{"content": wrapped, "filename": "x.txt"}])
    assert (
        await client.post("/v3/mail/send", headers=api_key.headers, json=body)
    ).status_code == 202
