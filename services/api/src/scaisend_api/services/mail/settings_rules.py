"""Validation of `mail_settings` and `tracking_settings`: every `enable` is a JSON boolean
(SendGrid refuses "true"), sub-fields have their documented types; stored as given."""

from __future__ import annotations

from typing import Any

from scaisend_api.services.mail.rules import Checker, is_email, path

BYPASS_OTHERS = (
    "bypass_spam_management",
    "bypass_bounce_management",
    "bypass_unsubscribe_management",
)
MAIL_SETTINGS = (
    "bypass_list_management", *BYPASS_OTHERS, "footer", "sandbox_mode", "bcc", "spam_check",
)  # fmt: skip
# Per setting: its string sub-fields (any other known key is checked by a dedicated rule).
TRACKING_STRINGS = {
    "click_tracking": (),
    "open_tracking": ("substitution_tag",),
    "subscription_tracking": ("text", "html", "substitution_tag"),
    "ganalytics": ("utm_source", "utm_medium", "utm_term", "utm_content", "utm_campaign"),
}


def check_mail_settings(c: Checker, value: Any) -> dict[str, Any]:
    at = "mail_settings"
    if value is None or not c.of_type(value, dict, "object", at):
        return {}
    for name in MAIL_SETTINGS:
        if name in value:
            _setting(c, value[name], path(at, name), name)
    _footer(c, value.get("footer"))
    _bcc(c, value.get("bcc"))
    _spam_check(c, value.get("spam_check"))
    if _enabled(value, "bypass_list_management") and any(_enabled(value, n) for n in BYPASS_OTHERS):
        c.fail(
            "bypass_list_management cannot be combined with bypass_spam_management, "
            "bypass_bounce_management or bypass_unsubscribe_management.",
            path(at, "bypass_list_management"),
        )
    return dict(value)


def check_tracking_settings(c: Checker, value: Any) -> dict[str, Any]:
    at = "tracking_settings"
    if value is None or not c.of_type(value, dict, "object", at):
        return {}
    for name, strings in TRACKING_STRINGS.items():
        if name not in value or not _setting(c, value[name], path(at, name), name):
            continue
        for key in strings:
            _optional_string(c, value[name].get(key), path(at, name, key))
    click = value.get("click_tracking")
    if isinstance(click, dict) and "enable_text" in click:
        c.boolean(click["enable_text"], path(at, "click_tracking", "enable_text"), "enable_text")
    return dict(value)


def _setting(c: Checker, value: Any, at: str, name: str) -> bool:
    """An object whose `enable`, when present, is a boolean."""
    if not c.of_type(value, dict, "object", at):
        return False
    if "enable" in value:
        return c.boolean(value["enable"], path(at, "enable"), name.replace("_", " ")) is not None
    return True


def _enabled(settings: dict[str, Any], name: str) -> bool:
    item = settings.get(name)
    return isinstance(item, dict) and item.get("enable") is True


def _optional_string(c: Checker, value: Any, at: str) -> None:
    if value is not None:
        c.of_type(value, str, "string", at)


def _footer(c: Checker, footer: Any) -> None:
    if isinstance(footer, dict):
        for key in ("text", "html"):
            _optional_string(c, footer.get(key), path("mail_settings", "footer", key))


def _bcc(c: Checker, bcc: Any) -> None:
    if not isinstance(bcc, dict) or bcc.get("enable") is not True:
        return
    email = bcc.get("email")
    if not isinstance(email, str) or not is_email(email):
        c.fail(
            "The bcc email must be a valid address when bcc is enabled.", "mail_settings.bcc.email"
        )


def _spam_check(c: Checker, spam: Any) -> None:
    if not isinstance(spam, dict):
        return
    threshold = spam.get("threshold")
    if threshold is not None and (
        not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= 10
    ):
        c.fail(
            "The spam check threshold must be an integer from 1 to 10.",
            "mail_settings.spam_check.threshold",
        )
    url = spam.get("post_to_url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        c.fail(
            "The spam check post_to_url must start with http:// or https://.",
            "mail_settings.spam_check.post_to_url",
        )
