"""Every log line about a call names it, in text and JSON logs."""

from __future__ import annotations

import io
import json
import logging

from sipline.logcontext import CallIdFilter, CallIdTextFormatter, current_call_id
from sipline.server import _JsonFormatter


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"sipline.test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_text_lines_carry_the_call_id_only_inside_a_call() -> None:
    logger, stream = capture(CallIdTextFormatter("%(levelname)s %(name)s: %(message)s"))
    logger.info("outside")
    token = current_call_id.set("abc@host")
    try:
        logger.info("ringing")
    finally:
        current_call_id.reset(token)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(": outside")
    assert lines[1].endswith(": [abc@host] ringing")


def test_json_lines_have_a_call_id_field() -> None:
    logger, stream = capture(_JsonFormatter())
    token = current_call_id.set("xyz")
    try:
        logger.info("answered")
    finally:
        current_call_id.reset(token)
    entry = json.loads(stream.getvalue())
    assert entry["call_id"] == "xyz"
    assert entry["message"] == "answered"
