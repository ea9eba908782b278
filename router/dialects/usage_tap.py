"""Reading token usage out of a relayed answer without holding back a byte.

How this works: `UsageTap.feed` sees every chunk after it has been written to the client.
For SSE the events are cut by router.dialects.sse (bounded, linear) and only those that
carry the node's dialect's usage mark (`Answers.usage_mark`: OpenAI's `"usage":{`,
Gemini's `usageMetadata`) are parsed, so ordinary content events cost one search. A plain
JSON answer is collected (up to a cap) and parsed once at the end.

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
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from router.dialects.codec import Answers
from router.dialects.sse import DONE, MAX_EVENT, EventCutter, event_document
from router.dialects.usage import Usage

_ERROR_MARK = b'"error"'
MAX_COLLECTED = 16 * 1024 * 1024  # a non-stream answer larger than this is not parsed
MAX_TAIL = MAX_EVENT  # the longest SSE event read; a longer one passes through unread
MAX_INFLATED_PIECE = 256 * 1024  # a compressed chunk is scanned this much at a time
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # deflate is zlib-wrapped (RFC 9110)


def _usage_of(document: Any, answers: Answers) -> Usage | None:
    if isinstance(document, list):  # a JSON-array stream (Gemini's): the last usage counts
        found = None
        for item in document:
            found = _usage_of(item, answers) or found
        return found
    return answers.usage(document)


class UsageTap:
    """Watches one answer (SSE or JSON, in the node's dialect) for its token usage."""

    __slots__ = (
        "_answers",
        "_body",
        "_cutter",
        "_has_mark",
        "_inflater",
        "_size",
        "_stream",
        "inband_error",
        "usage",
    )

    def __init__(self, answers: Answers, *, is_stream: bool, coding: str | None = None) -> None:
        """`answers`: the node's dialect's; `coding`: the answer's Content-Encoding when
        it is not plain (an unknown one leaves the answer unread, its usage None)."""
        self._inflater = Inflater(coding) if coding is not None else None
        self._answers = answers
        self._has_mark = answers.usage_mark.search
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
        has_mark = self._has_mark
        if not has_mark(chunk) and _ERROR_MARK not in chunk and self._cutter.takes_whole(chunk):
            return  # whole events, none with usage or an error: nothing to cut or read
        for data, whole in self._cutter.feed(chunk):
            if not whole:
                continue  # an event over the cap: passed to the client unread
            if has_mark(data) or _ERROR_MARK in data:  # a match is truthy
                self._scan(data)

    def _scan(self, event: bytes) -> None:
        document = event_document(event)
        if document is None or document is DONE:
            return
        if is_error_event(document):
            self.inband_error = True
            return
        usage = _usage_of(document, self._answers)
        if usage is not None:  # the dialect adds reports up (Gemini's last counts)
            earlier = self.usage
            self.usage = usage if earlier is None else self._answers.later_usage(earlier, usage)

    def finish(self) -> Usage | None:
        """The usage seen, once the answer has ended (or was cut short)."""
        if self._stream:
            tail = self._cutter.rest()
            if tail.strip():
                self._scan(tail)
        elif self._body and self._size <= MAX_COLLECTED:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.usage = _usage_of(orjson.loads(b"".join(self._body)), self._answers)
            self._body = []
        return self.usage


def usage_of_whole(answers: Answers, body: bytes, coding: str | None) -> Usage | None:
    """The usage of a whole plain JSON answer (`coding`: its Content-Encoding when not
    plain): what a tap fed the one chunk would find, without making the tap."""
    if coding is not None or len(body) > MAX_COLLECTED:
        tap = UsageTap(answers, is_stream=False, coding=coding)
        tap.feed(body)
        return tap.finish()
    if not body:
        return None
    try:
        return _usage_of(orjson.loads(body), answers)
    except orjson.JSONDecodeError:
        return None


class Inflater:
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


class UsageFilter:
    """Drops the usage-only chunk from a stream whose client did not ask usage for.

    Shares the tap's cap: an event longer than MAX_TAIL passes through unread, as it comes."""

    __slots__ = ("_cutter", "_has_mark", "_is_usage_only")

    def __init__(self, answers: Answers) -> None:
        self._cutter = EventCutter(MAX_TAIL)
        self._has_mark = answers.usage_mark.search
        self._is_usage_only = answers.is_usage_only

    def pass_through(self, chunk: bytes) -> bytes:
        """The bytes of `chunk` the client may see now (complete events, minus usage)."""
        has_mark = self._has_mark
        if not has_mark(chunk) and self._cutter.takes_whole(chunk):
            return chunk  # whole events without the usage mark: none can be usage only
        pieces = self._cutter.feed(chunk)
        if len(pieces) == 1:
            data, whole = pieces[0]
            return b"" if whole and has_mark(data) and self._is_usage_only(data) else data
        only = self._is_usage_only
        return b"".join(
            data for data, whole in pieces if not (whole and has_mark(data) and only(data))
        )

    def flush(self) -> bytes:
        """Whatever is left when the node ends its answer."""
        tail = self._cutter.rest()
        return b"" if self._is_usage_only(tail) else tail
