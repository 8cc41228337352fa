"""JSON log lines: one object per line, correlation id attached, untrusted text cannot forge fields."""

from __future__ import annotations

import io
import json
import logging

from app.observability.logging import JsonFormatter, accept_correlation_id, correlation_id_var


def _emit(message: str, **extra) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning(message, extra=extra)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_line_has_fields_and_correlation_id() -> None:
    token = correlation_id_var.set("cid-1")
    try:
        line = _emit("hello %s", pipeline="collection")
    finally:
        correlation_id_var.reset(token)
    assert line["message"] == "hello %s" or line["message"].startswith("hello")
    assert line["correlation_id"] == "cid-1" and line["level"] == "WARNING"
    assert line["pipeline"] == "collection" and line["time"].endswith("+00:00")


def test_untrusted_text_cannot_break_a_line_or_forge_a_field() -> None:
    evil = 'Yankees"\n{"level": "ERROR", "user": "admin"}'
    line = _emit(evil, team=evil)
    assert line["level"] == "WARNING" and "user" not in line
    assert line["message"] == evil and line["team"] == evil


def test_request_ids_are_accepted_only_when_safe() -> None:
    assert accept_correlation_id("abc-123_x.y:z") == "abc-123_x.y:z"
    for bad in (None, "", "a b", "x" * 65, 'q"\n'):
        assert len(accept_correlation_id(bad)) == 32


def test_context_and_extras_cannot_replace_core_fields() -> None:
    from app.observability.logging import log_context_var

    token = log_context_var.set({"level": "DEBUG", "run_id": "r-1", "correlation_id": "forged"})
    cid = correlation_id_var.set("cid-2")
    try:
        line = _emit("hi", logger="forged", time="yesterday", stage="collect")
    finally:
        log_context_var.reset(token)
        correlation_id_var.reset(cid)
    assert (line["level"], line["logger"], line["correlation_id"]) == (
        "WARNING",
        "test.json",
        "cid-2",
    )
    assert line["time"] != "yesterday" and line["run_id"] == "r-1" and line["stage"] == "collect"


def test_time_is_utc_iso_with_milliseconds_as_datetime_gives_it() -> None:
    import random
    from datetime import UTC, datetime

    from app.observability.logging import _utc_iso_ms

    rng = random.Random(5)
    for created in [
        0.0,
        1767225599.9996,
        1767225600.001,
        *(rng.uniform(0, 2e9) for _ in range(2000)),
    ]:
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert _utc_iso_ms(created) == expected, created
