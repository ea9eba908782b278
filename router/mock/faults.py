"""Faults of a mock worker node: their runtime state, the counters, and how a request suffers them.

The mock node (`router.mock.app`) keeps one `MockState` on its app. Tests change the faults
over HTTP (`POST /_mock/faults`) while the node runs, so the fault fields are parsed and
validated here, once, and the handlers only read typed attributes. Each request takes a
snapshot of the faults, so an update never changes an answer halfway through.

Order in which a request suffers them: hang, first_byte_delay, status (at error_rate,
for the next `status_times` requests when set, its body carrying `error_message` and
`error_code`, with `retry_after` as Retry-After), cut_after == 0
(drop the connection before any byte); then, while answering, the first token: the
headers and any content-free leading event (a chat stream's role chunk) go out at once,
then `stall_after_role` hangs for good, and `ttft_delay` (for `ttft_rate` of the
requests) waits before the first content event or a whole JSON answer; chunk_delay before every
event but the first, cut_after == N (abort after N events; a non-stream answer sends half
its body) and inband_error_after == N (after N events, one `data: {"error": ...}` event in
the path's dialect, then the stream ends normally, as LiteLLM does).
`tool_call: {"name", "arguments"}` scripts a model that calls that tool
(router.mock.tools). `usage_chunk_style: litellm` sends the OpenAI usage chunk with
`choices: [{"index": 0, "delta": {}}]` instead of `choices: []`. A hostile node's:
`huge_event: N` sends, before the first content event, one event of N bytes without a
newline; `headers` adds response headers (a cookie, a redirect, a 100 KB value).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from router.mock.answers import Answer
from router.mock.tools import ToolCall
from router.mock.wire import (
    fault_response,
    huge_event,
    inband_error_event,
    json_response,
    wire_of,
)


class FaultError(ValueError):
    """A fault update that names an unknown field or carries a value of the wrong kind."""


def _optional_int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{name} must be an integer or null, got {value!r}")
    return value


def _status(name: str, value: object) -> int | None:
    code = _optional_int(name, value)
    if code is not None and not 100 <= code <= 599:
        raise FaultError(f"{name} must be an HTTP status code (100..599), got {code}")
    return code


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FaultError(f"{name} must be a number between 0 and 1, got {value!r}")
    return float(value)


# Faults whose value is text: the allowed values (None: any non-empty string or null).
_TEXT_FAULTS: dict[str, tuple[str, ...] | None] = {
    "usage_chunk_style": ("empty", "litellm"),
    "error_message": None,
    "retry_after": None,
    "error_code": None,
    "finish_reason": None,
    "compress": ("off", "accepted", "always"),
}


def _text(name: str, value: object, allowed: tuple[str, ...] | None) -> str | None:
    if allowed is not None:
        if value not in allowed:
            raise FaultError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)
    if name in ("retry_after", "error_code", "finish_reason") and value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k for k, v in value.items()
    ):
        raise FaultError(f"headers must map names to strings, got {value!r}")
    return dict(value)


@dataclass(slots=True)
class Faults:
    """What the node does wrong; the defaults mean "behave"."""

    status: int | None = None  # answer this status instead of the real answer ...
    error_rate: float = 1.0  # ... for this fraction of requests (only while status is set)
    status_times: int | None = None  # ... for the next N such requests only, then behave
    error_code: str | None = None  # the body's error.code (Google shape: error.status)
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None  # abort the connection after this many events (0: at once)
    stall_after: int | None = None  # after this many events, send nothing more (held open)
    hang: bool = False
    health_status: int | None = None
    inband_error_after: int | None = None  # an in-band error event after this many events
    usage_chunk_style: str = "empty"  # "empty": choices []; "litellm": one empty delta
    error_message: str = "injected fault"  # the message of a `status` fault's body
    retry_after: str | None = None  # Retry-After of a `status` fault (429: "1" if unset)
    ttft_delay: float = 0.0  # seconds before the first content event (after the role chunk)
    ttft_rate: float = 1.0  # ... for this fraction of requests
    stall_after_role: bool = False  # send headers and the role chunk, then nothing
    # gzip the answers: "accepted" when the request's Accept-Encoding allows it (as a node
    # behind nginx's `gzip on` does), "always" even when it asked for identity
    compress: str = "off"
    reject_prefill: bool = False  # answer 400 to a request whose last turn is the assistant's
    # Before the first content event of a stream, one content event this many bytes long
    # without a newline until its end (a hostile node's endless line); null: none.
    huge_event: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # added to every answer
    tool_call: ToolCall | None = None  # a model that uses this tool (router.mock.tools)
    # The answer's finish reason, written as given in the path's dialect ("length",
    # "SAFETY"...); null: the usual ("stop", "STOP").
    finish_reason: str | None = None

    def update(self, payload: Mapping[str, Any]) -> None:
        """Apply a `POST /_mock/faults` body; all-or-nothing, raises FaultError."""
        new = Faults() if payload.get("reset") is True else dataclasses.replace(self)
        for key, value in payload.items():
            if key == "reset":
                if not isinstance(value, bool):
                    raise FaultError(f"reset must be true or false, got {value!r}")
            elif key in ("status", "health_status"):
                setattr(new, key, _status(key, value))
            elif key in ("error_rate", "ttft_rate"):
                setattr(new, key, _fraction(key, value))
            elif key in ("first_byte_delay", "chunk_delay", "ttft_delay"):
                setattr(new, key, _seconds(key, value))
            elif key == "headers":
                setattr(new, key, _headers(value))
            elif key == "tool_call":
                try:
                    new.tool_call = ToolCall.parse(value)
                except ValueError as exc:
                    raise FaultError(str(exc)) from None
            elif key in (
                "cut_after",
                "stall_after",
                "inband_error_after",
                "status_times",
                "huge_event",
            ):
                cut = _optional_int(key, value)
                if cut is not None and cut < 0:
                    raise FaultError(f"{key} must be >= 0 or null, got {cut}")
                setattr(new, key, cut)
            elif key in _TEXT_FAULTS:
                setattr(new, key, _text(key, value, _TEXT_FAULTS[key]))
            elif key in ("hang", "stall_after_role", "reject_prefill"):
                if not isinstance(value, bool):
                    raise FaultError(f"{key} must be true or false, got {value!r}")
                setattr(new, key, value)
            else:
                raise FaultError(f"unknown fault {key!r}")
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(new, f.name))

    def as_dict(self) -> dict[str, Any]:
        """The faults as JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Stats:
    """Counters the tests read through `GET /_mock/stats`."""

    requests: int = 0
    completed: int = 0
    errors_injected: int = 0
    unauthorized: int = 0
    cut: int = 0
    inflight: int = 0
    cancelled: int = 0
    last_cancel_at: float | None = None
    by_node_path: dict[str, int] = field(default_factory=dict)

    def count_request(self, path: str) -> None:
        """Note one chat/Gemini/countTokens request arriving."""
        self.requests += 1
        self.by_node_path[path] = self.by_node_path.get(path, 0) + 1

    def count_cancel(self) -> None:
        """Note a client that went away before its answer was complete."""
        self.cancelled += 1
        self.last_cancel_at = time.time()

    def reset(self) -> None:
        """Zero the counters; `inflight` is kept because those requests are still running."""
        inflight = self.inflight
        fresh = Stats(inflight=inflight)
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready data."""
        return dataclasses.asdict(self)


class MockState:
    """Everything about a running mock node that changes while it runs."""

    __slots__ = ("faults", "last_request", "rng", "stats")

    def __init__(self, faults: Faults, *, seed: int | None = None) -> None:
        self.faults = faults
        self.stats = Stats()
        self.rng = random.Random(seed)
        self.last_request: dict[str, Any] | None = None

    def injected_status(self, faults: Faults) -> int | None:
        """The error status to answer this request with, or None to answer normally."""
        if faults.status is None:
            return None
        # Draw even at rate 1.0 so a seeded sequence does not depend on the rate history.
        if self.rng.random() >= faults.error_rate:
            return None
        if faults.status_times is not None:
            if self.faults.status_times is None or self.faults.status_times <= 0:
                return None
            self.faults.status_times -= 1  # the live faults: the next request sees one fewer
        return faults.status

    def draws_slow_start(self, faults: Faults) -> bool:
        """Whether this request waits `ttft_delay` before its first token."""
        return faults.ttft_delay > 0 and self.rng.random() < faults.ttft_rate


class ConnectionCut(Exception):
    """The connection was aborted on purpose (cut_after); `response` is what was prepared."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__("connection cut")
        self.response = response


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def suffer_faults(
    state: MockState, faults: Faults, request: web.Request
) -> web.StreamResponse | None:
    """Apply the faults that come before the answer: an error response, or None to answer."""
    if faults.hang:
        await asyncio.get_running_loop().create_future()  # resolved never; cancelled on close
    if faults.first_byte_delay:
        await asyncio.sleep(faults.first_byte_delay)
    status = state.injected_status(faults)
    if status is not None:
        state.stats.errors_injected += 1
        return fault_response(
            status, wire_of(request), faults.error_message, faults.error_code, faults.retry_after
        )
    if faults.cut_after == 0:
        _abort(request)
        raise ConnectionCut(web.Response())
    return None


@dataclass(slots=True)
class Exchange:
    """One faultable request being answered, with the faults that apply while writing."""

    request: web.Request
    body: dict[str, Any]
    faults: Faults
    slow_start: bool = False  # this request waits ttft_delay before its first token
    answer: Answer | None = None  # a continuation of a prefill; None: the node's answer
    leading: int = 0  # content-free events before the first token (a chat role chunk)
    sent: int = 0  # events written so far

    async def before_first_token(self) -> None:
        """The first-token faults: a stall for good, or a slow start."""
        if self.faults.stall_after_role:
            await asyncio.get_running_loop().create_future()  # resolved never
        if self.slow_start:
            await asyncio.sleep(self.faults.ttft_delay)

    async def send(self, response: web.StreamResponse, data: bytes) -> bool:
        """Write one stream event, applying chunk_delay, cut_after and inband_error_after;
        False once the stream must end (an in-band error event was sent instead)."""
        if self.sent == self.leading:
            await self.before_first_token()
        if self.sent and self.faults.chunk_delay:
            await asyncio.sleep(self.faults.chunk_delay)
        stall = self.faults.stall_after
        if stall is not None and self.sent >= stall:
            await asyncio.get_running_loop().create_future()  # resolved never
        cut = self.faults.cut_after
        if cut is not None and self.sent >= cut:
            _abort(self.request)
            raise ConnectionCut(response)
        huge = self.faults.huge_event
        if huge and self.sent == self.leading:
            await response.write(huge_event(huge, wire_of(self.request)))
        inband = self.faults.inband_error_after
        if inband is not None and self.sent >= inband:
            await response.write(inband_error_event(wire_of(self.request)))
            return False
        await response.write(data)
        self.sent += 1
        return True

    async def send_json(self, data: object) -> web.StreamResponse:
        """A whole JSON answer; with cut_after, half of it and then a dropped connection."""
        await self.before_first_token()
        if self.faults.cut_after is None:
            return json_response(data)
        body = orjson.dumps(data)
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.content_length = len(body)
        await response.prepare(self.request)
        await response.write(body[: len(body) // 2])
        _abort(self.request)
        raise ConnectionCut(response)
