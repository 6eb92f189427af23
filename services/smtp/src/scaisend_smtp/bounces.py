"""One bounce classifier for synchronous SMTP replies and asynchronous DSNs.

RFC 3463 enhanced status codes decide first; reply text decides when the code is vague (5.0.0,
or none). `block` means the receiver refused us (policy, reputation, content), `hard` means the
address is bad, `soft` means a temporary condition that outlived our retries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BounceType = Literal["hard", "soft", "block"]

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# Subject.detail codes (RFC 3463) that say the mailbox itself is the problem.
_HARD_CODES = {"1.0", "1.1", "1.2", "1.3", "1.6", "1.10", "2.1", "5.1"}
# ... that say the receiver's policy refused us.
_BLOCK_CODES = {"7.0", "7.1", "7.2", "7.7", "7.9", "7.23", "7.24", "7.25", "7.26", "7.27", "7.28"}
# ... that say the mailbox or message is temporarily unacceptable.
_SOFT_CODES = {"2.2", "2.0", "3.1", "3.4", "2.3", "4.1", "4.2", "4.7"}

_BLOCK_WORDS = re.compile(
    r"block|blacklist|blocklist|spam|reputation|policy|rejected due to|not allowed|"
    r"dnsbl|spamhaus|barracuda|denied|prohibited|dmarc|spf|dkim|unauthenticated",
    re.IGNORECASE,
)
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such user|does not exist|mailbox unavailable|"
    r"invalid recipient|recipient (address )?rejected|address rejected|no mailbox|"
    r"account (has been )?disabled|mailbox not found|unrouteable|undeliverable address",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"mailbox full|quota|insufficient storage|too large|size limit|exceeds .*size|"
    r"try again|temporar|greylist",
    re.IGNORECASE,
)

# Whole words: "spamhaus" (a blocklist, i.e. reputation) is not "spam" (content).
_CONTENT_WORDS = re.compile(r"\bcontent\b|\bspam\b|\bvirus|malware|phish", re.IGNORECASE)

# SendGrid's bounce_classification vocabulary, for the Event Webhook.
CLASSIFICATION = {
    "hard": "Invalid Address",
    "soft": "Mailbox Unavailable",
    "block": "Reputation",
}


@dataclass(frozen=True, slots=True)
class Classification:
    bounce_type: BounceType
    status: str  # enhanced status code, e.g. "5.1.1" (derived from the reply code if absent)
    classification: str


def enhanced_status(text: str) -> str | None:
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else None


def classify(reply_code: int | None, text: str, enhanced: str | None = None) -> Classification:
    """Classify a permanent failure (5xx reply or DSN `failed`)."""
    status = enhanced or enhanced_status(text) or f"{(reply_code or 550) // 100}.0.0"
    subject_detail = status.split(".", 1)[1] if "." in status else ""
    if _is_misused_routing_code(subject_detail, text):
        return Classification("hard", status, CLASSIFICATION["hard"])
    bounce_type = _by_code(subject_detail) or _by_text(text) or "hard"
    return Classification(bounce_type, status, _classification(bounce_type, subject_detail, text))


def _is_misused_routing_code(subject_detail: str, text: str) -> bool:
    """X.4.Y says the network or routing failed, yet Exchange Online's directory-based edge
    blocking answers "550 5.4.1 Recipient address rejected: Access denied" for an address its
    tenant does not have. When a routing code comes with words naming the recipient as
    unknown, the words are right and the address is bad."""
    return subject_detail.startswith("4.") and _HARD_WORDS.search(text) is not None


def _by_code(subject_detail: str) -> BounceType | None:
    if subject_detail in _BLOCK_CODES:
        return "block"
    if subject_detail in _HARD_CODES:
        return "hard"
    if subject_detail in _SOFT_CODES:
        return "soft"
    return None


def _by_text(text: str) -> BounceType | None:
    if _BLOCK_WORDS.search(text):
        return "block"
    if _HARD_WORDS.search(text):
        return "hard"
    if _SOFT_WORDS.search(text):
        return "soft"
    return None


def _classification(bounce_type: BounceType, subject_detail: str, text: str) -> str:
    """SendGrid's bounce_classification: a block is about our content or our reputation, a
    network or routing failure (X.4.Y: no answer, loop, expiry) is technical."""
    if bounce_type == "block" and _CONTENT_WORDS.search(text):
        return "Content"
    if subject_detail.startswith("4."):
        return "Technical"
    return CLASSIFICATION[bounce_type]
