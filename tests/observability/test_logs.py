"""router.observability.logs: one JSON object per line, level filtering, no secrets."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from router.dialects.usage import Usage
from router.observability.exchange import Attempt, AttemptKind, Exchange
from router.observability.logs import (
    AccessFields,
    AccessLogWriter,
    access_fields,
    configure_logging,
    get_logger,
    log_access,
)
from tests.support.observability import CountingStream


def access_record() -> AccessFields:
    """A finished request's access fields, rendered from an Exchange the way the router does."""
    exchange = Exchange("t-1", "POST", "/v1/chat/completions", "127.0.0.1", started=10.0)
    exchange.model, exchange.node, exchange.status = "gpt-4o", "a", 200
    exchange.attempts.append(
        Attempt("b", "gpt-4o", AttemptKind.FIRST, started=10.0, dialect="gemini", failure="timeout")
    )
    exchange.attempts[0].translated = True
    exchange.ttfb = 0.012345
    exchange.streamed, exchange.bytes_out = True, 1234
    exchange.usage = Usage(prompt=3, completion=5)
    return access_fields(exchange, now=10.10004)


ACCESS = access_record()


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line]


def test_access_event_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    log_access(get_logger("router.access"), ACCESS)
    (event,) = lines(capsys.readouterr().out)
    assert event["event"] == "access" and event["level"] == "info"
    assert event["logger"] == "router.access"
    assert event["ttfb_ms"] == 12.3 and event["duration_ms"] == 100.0
    assert event["attempts"] == [
        {
            "node": "b",
            "model": "gpt-4o",
            "kind": "first",
            "failure": "timeout",
            "status": None,
            "dialect": "gemini",  # what the node was asked in
            "translated": True,  # not the client's dialect
        }
    ]
    assert event["usage"] == {"prompt": 3, "completion": 5, "reasoning": 0}
    assert set(AccessFields.__annotations__) <= set(event)
    assert event["timestamp"].endswith("Z") and "T" in event["timestamp"]


def test_level_filters_access_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    log = get_logger("router.access")
    assert not log.is_enabled_for(logging.INFO)
    log_access(log, ACCESS)
    log.warning("kept")
    assert [e["event"] for e in lines(capsys.readouterr().out)] == ["kept"]


def test_secrets_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "json")
    get_logger("x").info("oops", authorization="Bearer sk-secret", messages=[{"content": "hi"}])
    out = capsys.readouterr().out
    assert "sk-secret" not in out and "hi" not in out


def test_stdlib_logs_share_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    configure_logging("info", "json")  # twice must not double lines
    logging.getLogger("aiohttp.server").warning("boom %s", 1)
    (event,) = lines(capsys.readouterr().out)
    assert event == {**event, "event": "boom 1", "logger": "aiohttp.server", "level": "warning"}


def test_console_format_and_text_stream() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream)
    get_logger("c").info("hello", n=1)
    assert "hello" in stream.getvalue() and "n=1" in stream.getvalue()
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)  # not a TTY: JSON
    get_logger("c").info("hello")
    assert json.loads(stream.getvalue())["event"] == "hello"


def test_bad_level_and_format_are_rejected() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")


def test_access_writer_writes_a_batch_in_one_write_with_one_timestamp() -> None:
    stream = CountingStream()
    AccessLogWriter(stream).write_lines({"trace_id": f"t-{n}", "usage": None} for n in range(3))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["trace_id"] for e in events] == ["t-0", "t-1", "t-2"]
    assert stream.writes == 1
    assert len({e["timestamp"] for e in events}) == 1
    assert events[0]["timestamp"].endswith("Z")
    for event in events:
        assert (event["logger"], event["event"], event["level"]) == (
            "router.access",
            "access",
            "info",
        )


def test_access_writer_drops_lines_when_stdout_is_gone() -> None:
    stream = CountingStream()
    stream.close()
    AccessLogWriter(stream).write_lines([{"trace_id": "t-1"}])  # no exception
