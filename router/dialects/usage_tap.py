"""Reading token usage out of a relayed answer without holding back a byte.

How this works: `UsageTap.feed` sees every chunk after it has been written to the client.
For SSE the events are cut by router.dialects.sse_cut (bounded, linear) and only those
that carry a usage object (`"usage":{...}` in OpenAI chunks, `usageMetadata` in Gemini's)
are parsed, so ordinary content events cost one substring search. A plain JSON answer
is collected (up to a cap) and parsed once at the end.

The same scan notices an in-band error: an SSE event whose JSON has a top-level `error`
(LiteLLM, and Google itself, report a failure that way after a 200). Only events holding
the bytes `"error"` are parsed, so it costs another substring search per chunk.

`UsageFilter` is the one place bytes are held: when the router itself asked the node for
streaming usage (the client did not), the usage-only chunk must not reach the client.
Complete events pass at once; only an event still arriving waits for its end, which no
SSE client could have used anyway, and one longer than the cap passes on unread.

Nodes are asked for identity encoding; one that compresses anyway (`coding`) is read
through an inflater, in pieces of at most MAX_INFLATED_PIECE, so its usage still counts.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from router.dialects.sse_cut import MAX_EVENT, EventCutter
from router.dialects.usage import Usage, usage_from_gemini, usage_from_openai

_OPENAI_MARK = re.compile(rb'"usage"\s*:\s*\{')
_GEMINI_MARK = b'"usageMetadata"'
_ERROR_MARK = b'"error"'
MAX_COLLECTED = 16 * 1024 * 1024  # a non-stream answer larger than this is not parsed
MAX_TAIL = MAX_EVENT  # the longest SSE event read; a longer one passes through unread
MAX_INFLATED_PIECE = 256 * 1024  # a compressed chunk is scanned this much at a time
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # deflate is zlib-wrapped (RFC 9110)


def _event_data(event: bytes) -> bytes:
    """The joined `data:` lines of one SSE event."""
    parts = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            parts.append(line[5:].lstrip(b" "))
    return b"\n".join(parts)


def _usage_of(document: Any, gemini: bool) -> Usage | None:
    if isinstance(document, list):  # Gemini's streamed JSON array: the last usage counts
        found = None
        for item in document:
            found = _usage_of(item, gemini) or found
        return found
    return usage_from_gemini(document) if gemini else usage_from_openai(document)


class UsageTap:
    """Watches one answer (OpenAI or Gemini, SSE or JSON) for its token usage."""

    __slots__ = (
        "_body",
        "_cutter",
        "_gemini",
        "_inflater",
        "_size",
        "_stream",
        "inband_error",
        "usage",
    )

    def __init__(self, *, gemini: bool, is_stream: bool, coding: str | None = None) -> None:
        """`coding`: the answer's Content-Encoding when it is not plain; an unknown one
        leaves the answer unread (its usage None)."""
        self._inflater = _Inflater(coding) if coding is not None else None
        self._gemini = gemini
        self._stream = is_stream
        self._cutter = EventCutter(MAX_TAIL)
        self._body: list[bytes] = []
        self._size = 0
        self.usage: Usage | None = None
        self.inband_error = False  # an event carried a top-level `error`

    def feed(self, chunk: bytes) -> None:
        """Look at the next chunk of the answer."""
        if self._inflater is None:
            self._feed_plain(chunk)
            return
        for piece in self._inflater.inflate(chunk):
            self._feed_plain(piece)

    def _feed_plain(self, chunk: bytes) -> None:
        if not self._stream:
            self._size += len(chunk)
            if self._size <= MAX_COLLECTED:
                self._body.append(chunk)
            return
        for data, whole in self._cutter.feed(chunk):
            if not whole:
                continue  # an event over the cap: passed to the client unread
            has_mark = _GEMINI_MARK in data if self._gemini else _OPENAI_MARK.search(data)
            if has_mark or _ERROR_MARK in data:
                self._scan(data)

    def _scan(self, event: bytes) -> None:
        payload = _event_data(event)
        if not payload or payload == b"[DONE]":
            return
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if is_error_event(document):
            self.inband_error = True
            return
        usage = _usage_of(document, self._gemini)
        if usage is not None:
            self.usage = usage  # Gemini repeats cumulative usage: the last one counts

    def finish(self) -> Usage | None:
        """The usage seen, once the answer has ended (or was cut short)."""
        if self._stream:
            tail = self._cutter.rest()
            if tail.strip():
                self._scan(tail)
        elif self._body and self._size <= MAX_COLLECTED:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.usage = _usage_of(orjson.loads(b"".join(self._body)), self._gemini)
            self._body = []
        return self.usage


class _Inflater:
    """Decompresses a gzip or deflate answer piece by piece; gives up (yields nothing
    more) on an unknown coding or corrupt data, so a bad node costs its usage, no error."""

    __slots__ = ("_zlib",)

    def __init__(self, coding: str) -> None:
        wbits = _WBITS.get(coding)
        self._zlib = zlib.decompressobj(wbits) if wbits is not None else None

    @property
    def readable(self) -> bool:
        """False for an unknown coding or once the data proved corrupt."""
        return self._zlib is not None

    def inflate(self, data: bytes) -> Iterator[bytes]:
        while data and self._zlib is not None:
            try:
                piece = self._zlib.decompress(data, MAX_INFLATED_PIECE)
            except zlib.error:
                self._zlib = None
                return
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece


def is_error_event(document: Any) -> bool:
    """An event's JSON that reports a failure in-band: a top-level `error` that is set."""
    return isinstance(document, dict) and bool(document.get("error"))


def is_usage_only(event: bytes) -> bool:
    """True for an OpenAI chunk that carries usage and nothing a client could use.

    Recognised by content, not by `choices == []`: LiteLLM sends the usage chunk with
    `choices: [{"index": 0, "delta": {}}]`. A chunk whose choice has any delta value, a
    finish reason or logprobs is kept (usage riding on the last content chunk).
    """
    payload = _event_data(event)
    if not _OPENAI_MARK.search(payload):
        return False
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(document, dict) or not isinstance(document.get("usage"), dict):
        return False
    choices = document.get("choices")
    if choices is None:
        return True
    return isinstance(choices, list) and all(_is_empty_choice(c) for c in choices)


def _is_empty_choice(choice: object) -> bool:
    if not isinstance(choice, dict):
        return False
    if choice.get("finish_reason") or choice.get("logprobs"):
        return False
    delta = choice.get("delta")
    if delta is None:  # a legacy completions chunk carries `text` instead of a delta
        return not choice.get("text") and not choice.get("message")
    return isinstance(delta, dict) and not any(delta.values())


class UsageFilter:
    """Drops the usage-only chunk from an OpenAI stream the client did not ask usage for.

    Shares the tap's cap: an event longer than MAX_TAIL passes through unread, as it comes."""

    __slots__ = ("_cutter",)

    def __init__(self) -> None:
        self._cutter = EventCutter(MAX_TAIL)

    def pass_through(self, chunk: bytes) -> bytes:
        """The bytes of `chunk` the client may see now (complete events, minus usage)."""
        pieces = self._cutter.feed(chunk)
        if len(pieces) == 1:
            data, whole = pieces[0]
            return b"" if whole and _is_usage_event(data) else data
        return b"".join(data for data, whole in pieces if not (whole and _is_usage_event(data)))

    def flush(self) -> bytes:
        """Whatever is left when the node ends its answer."""
        tail = self._cutter.rest()
        return b"" if is_usage_only(tail) else tail


def _is_usage_event(event: bytes) -> bool:
    return _OPENAI_MARK.search(event) is not None and is_usage_only(event)
