"""JSON log lines carry the ids bound with log_context, and nothing leaks outside it."""

from __future__ import annotations

import json
import logging

import pytest

from scaisend_core.logs import ContextFilter, JsonFormatter, log_context


def _line(record_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    record = caplog.records[-1]
    ContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]


def test_ids_bound_in_context_appear_in_json(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("scaisend.test")
    with caplog.at_level(logging.INFO), log_context(message_id="msg_1", tenant_id="tnt_1"):
        logger.info("rendered %s", "ok")
        line = _line(logger, caplog)
    assert line["msg"] == "rendered ok"
    assert line["message_id"] == "msg_1"
    assert line["tenant_id"] == "tnt_1"
    assert line["level"] == "info"


def test_context_is_restored_after_the_block(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("scaisend.test")
    with log_context(message_id="msg_1"):
        pass
    with caplog.at_level(logging.INFO):
        logger.info("outside")
        line = _line(logger, caplog)
    assert "message_id" not in line
