"""Structured logging: one JSON object per line on stdout, or a readable console.

structlog with a filtering bound logger: a call below the configured level is a bare
`return None`, and `log_access` checks the level before building anything, so a quiet
router pays almost nothing per request. JSON goes out as bytes rendered by orjson.
Standard-library loggers (aiohttp, asyncio) are routed through the same renderer so the
stream stays one format.

Never log Authorization headers, API keys or message contents: the access event has no
field for them, and `redact_secrets` blanks well-known secret keys as a last defence.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO, TypedDict

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from router.dialects.registry import CONVERSATION_FIELDS, CREDENTIAL_HEADERS
from router.observability.exchange import Exchange

LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
FORMATS: tuple[str, ...] = ("auto", "json", "console")
REDACTED = "[redacted]"
# Every dialect's credential headers and conversation fields, and the usual others.
SECRET_KEYS: frozenset[str] = (
    frozenset(
        {
            "authorization",
            "proxy-authorization",
            "api_key",
            "key",
            "token",
            "admin_token",
            "password",
            "prompt",
        }
    )
    | CREDENTIAL_HEADERS
    | CONVERSATION_FIELDS
)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Blank values under secret-looking keys (a processor; cheap when none are present)."""
    if not SECRET_KEYS.isdisjoint(event_dict):
        for key in SECRET_KEYS.intersection(event_dict):
            event_dict[key] = REDACTED
    return event_dict


def _orjson_bytes(obj: Any, **_kw: Any) -> bytes:
    # default=str: a stray object in an event must never make the log call raise.
    return orjson.dumps(obj, default=str)


def _orjson_text(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


class _RouterHandler(logging.StreamHandler[TextIO]):
    """Our root handler, marked by type so a second configure replaces only it."""


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _is_console(fmt: str, stream: TextIO) -> bool:
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {FORMATS}")
    return _isatty(stream) if fmt == "auto" else fmt == "console"


@dataclass(frozen=True, slots=True)
class LogOutput:
    """Where configure_logging sends lines: `json_stream` is set when they are JSON bytes."""

    json_stream: BinaryIO | None
    min_level: int


_ACCESS_HEAD = b'{"logger":"router.access","event":"access","level":"info","timestamp":'


class AccessLogWriter:
    """The per-request `access` lines in JSON mode, rendered straight to bytes.

    Same fields as every other event, but without structlog's processor chain, which
    costs more per request than everything else the router records. Console mode keeps
    the structlog path (readability over speed).

    The lines of one batch (the requests that ended in one event-loop turn, see
    `router.observability.observer`) leave in one write(2) and share one timestamp,
    which spares a clock read and a date rendering per line.
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write_lines(self, lines: Iterable[Mapping[str, object]]) -> None:
        """Write one line per non-empty dict of fields."""
        stamp = orjson.dumps(datetime.now(UTC), option=orjson.OPT_UTC_Z)
        head = _ACCESS_HEAD + stamp + b","
        out = bytearray()
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for fields in lines:
            out += head
            # The fields' own "{" is dropped: the head above opened the object. default=str:
            # a stray object must cost its line its exact form, never the whole batch.
            out += memoryview(dumps(fields, default=str, option=option))[1:]
        with contextlib.suppress(OSError, ValueError):  # stdout gone (closed pipe): drop
            self._stream.write(out)
            self._stream.flush()


def quiet_client_errors(record: logging.LogRecord) -> bool:
    """aiohttp logs a client's malformed bytes (a bad request line, a header too long, a
    body that is not its Content-Encoding) with a traceback, as if the router had failed:
    make it one warning line naming only the error's kind (its text may quote the
    request, credentials included)."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, (HttpProcessingError, RequestPayloadError)):
        record.msg = f"malformed request from a client: {type(exc).__name__}"
        record.args = ()
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def configure_logging(
    level: str = "info", fmt: str = "auto", *, stream: TextIO | None = None
) -> LogOutput:
    """Configure structlog and stdlib logging once at start (`--log-level`, `--log-format`)."""
    try:
        min_level = LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; expected one of {list(LEVELS)}") from None
    out = stream if stream is not None else sys.stdout
    console = _is_console(fmt, out)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    logger_factory: Any
    json_stream: BinaryIO | None = None
    if console:
        renderer: Processor = structlog.dev.ConsoleRenderer(colors=_isatty(out))
        logger_factory = structlog.PrintLoggerFactory(out)
        stdlib_renderer = renderer
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_bytes)
        stdlib_renderer = structlog.processors.JSONRenderer(serializer=_orjson_text)
        binary = getattr(out, "buffer", None)
        json_stream = binary
        if binary is not None:
            out.flush()  # text written before must not land after our bytes
            logger_factory = structlog.BytesLoggerFactory(binary)
        else:
            renderer = stdlib_renderer  # a text-only stream (tests' StringIO)
            logger_factory = structlog.PrintLoggerFactory(out)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        context_class=dict,
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
    handler = _RouterHandler(out)
    handler.addFilter(quiet_client_errors)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                stdlib_renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RouterHandler)]:
        root.removeHandler(old)  # calling twice (tests) must not double every line
    root.addHandler(handler)
    root.setLevel(min_level)
    return LogOutput(None if console else json_stream, min_level)


def get_logger(name: str) -> FilteringBoundLogger:
    """A logger carrying `logger=name` (e.g. "router.access"); call after configure_logging."""
    # bind() resolves structlog's lazy proxy now, so the logger has the configured level.
    logger: FilteringBoundLogger = structlog.get_logger().bind(logger=name)
    return logger


def log_access(log: FilteringBoundLogger, fields: AccessFields) -> None:
    """Emit the `access` event through structlog (console format); free below info."""
    if log.is_enabled_for(logging.INFO):
        log.info("access", **fields)


class AccessFields(TypedDict):
    """The access line's fields, in the order they are written: declared once, for both
    the JSON writer and the console format."""

    trace_id: str
    method: str
    path: str
    model: str
    node: str | None
    attempts: list[dict[str, Any]]
    status: int
    error_code: str | None  # set when the request failed, also after a 200 (mid-stream)
    ttfb_ms: float | None
    duration_ms: float
    streamed: bool
    bytes_out: int
    usage: dict[str, int] | None
    client: str | None
    client_disconnected: bool
    client_slow: bool  # cut for not reading (server.write_timeout): the client's fault


def access_fields(exchange: Exchange, now: float) -> AccessFields:
    """The access line of a finished request (`now`: when it ended, loop clock)."""
    ttfb = exchange.ttfb
    return {
        "trace_id": exchange.request_id,
        "method": exchange.method,
        "path": exchange.path,
        "model": exchange.model,
        "node": exchange.node,
        "attempts": [attempt.log_fields() for attempt in exchange.attempts],
        "status": exchange.status or 499,
        "error_code": exchange.error_code,
        "ttfb_ms": None if ttfb is None else round(ttfb * 1000, 1),
        "duration_ms": round((now - exchange.started) * 1000, 1),
        "streamed": exchange.streamed,
        "bytes_out": exchange.bytes_out,
        "usage": exchange.usage_fields(),
        "client": exchange.client,
        "client_disconnected": exchange.client_disconnected,
        "client_slow": exchange.client_slow,
    }
