"""Tell what an inbound message is and parse it: ARF report, RFC 3464 DSN, a bounce one of the
text heuristics knows, or unrecognised (with the reason). Never raises on hostile input."""

from __future__ import annotations

import logging

from scaisend_smtp.inbound.arf import is_arf, parse_arf
from scaisend_smtp.inbound.dsn import is_dsn, parse_dsn
from scaisend_smtp.inbound.mime import parse_bytes
from scaisend_smtp.inbound.plaintext import parse_text_bounce
from scaisend_smtp.inbound.reports import Report, Unrecognised

log = logging.getLogger(__name__)


def parse_report(raw: bytes) -> Report:
    try:
        return _parse(raw)
    except Exception as exc:  # the stdlib and flufl.bounce are not hardened against every input
        log.warning("inbound message could not be parsed", exc_info=True)
        return Unrecognised(f"unparseable: {type(exc).__name__}: {exc}"[:500])


def _parse(raw: bytes) -> Report:
    msg = parse_bytes(raw)
    if is_arf(msg):
        return parse_arf(msg) or Unrecognised("feedback report without Feedback-Type")
    dsn = parse_dsn(msg) if is_dsn(msg) else None
    if dsn is not None:
        return dsn
    text_bounce = parse_text_bounce(msg)
    if text_bounce is not None:
        return text_bounce
    if is_dsn(msg):
        return Unrecognised("delivery-status part without a usable recipient block")
    return Unrecognised("not a DSN, an ARF report or a known bounce format")
