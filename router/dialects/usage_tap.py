"""Reading token usage out of a relayed answer without holding back a byte.

How this works: `UsageTap.feed` sees every chunk after it has been written to the client.
For SSE it keeps only the unfinished tail of the last event and parses just the events
that carry a usage object (`"usage":{...}` in OpenAI chunks, `usageMetadata` in Gemini's),
so ordinary content chunks cost one substring search. A plain JSON answer is collected
(up to a cap) and parsed once at the end.

The same scan notices an in-band error: an SSE event whose JSON has a top-level `error`
(LiteLLM, and Google itself, report a failure that way after a 200). Only events holding
the bytes `"error"` are parsed, so it costs another substring search per chunk.

`UsageFilter` is the one place bytes are held: when the router itself asked the node for
streaming usage (the client did not), the usage-only chunk must not reach the client.
Complete events pass at once; only an event still arriving waits for its end, which no
SSE client could have used anyway.

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

from router.dialects.usage import Usage, usage_from_gemini, usage_from_openai

_OPENAI_MARK = re.compile(rb'"usage"\s*:\s*\{')
_GEMINI_MARK = b'"usageMetadata"'
_ERROR_MARK = b'"error"'
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
MAX_COLLECTED = 16 * 1024 * 1024  # a non-stream answer larger than this is not parsed
MAX_TAIL = 4 * 1024 * 1024  # the longest unfinished SSE event kept while scanning
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
        "_gemini",
        "_inflater",
        "_size",
        "_stream",
        "_tail",
        "inband_error",
        "usage",
    )

    def __init__(self, *, gemini: bool, is_stream: bool, coding: str | None = None) -> None:
        """`coding`: the answer's Content-Encoding when it is not plain; an unknown one
        leaves the answer unread (its usage None)."""
        self._inflater = _Inflater(coding) if coding is not None else None
        self._gemini = gemini
        self._stream = is_stream
        self._tail = b""
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
        data = self._tail + chunk if self._tail else chunk
        has_mark = _GEMINI_MARK in data if self._gemini else _OPENAI_MARK.search(data) is not None
        if not has_mark and _ERROR_MARK not in data:
            end = max(data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n"))
            tail = data[end:] if end >= 0 else data
            # Not SSE after all (no event ends): keep a bounded tail, not the whole answer.
            self._tail = tail[-MAX_TAIL:]
            return
        events = _EVENT_END.split(data)
        self._tail = events.pop()
        for event in events:
            self._scan(event)

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
            if self._tail.strip():
                self._scan(self._tail)
                self._tail = b""
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


def _last_event_end(data: bytes) -> int:
    """The offset just past the last complete SSE event in `data` (0 when none is)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


class UsageFilter:
    """Drops the usage-only chunk from an OpenAI stream the client did not ask usage for."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def pass_through(self, chunk: bytes) -> bytes:
        """The bytes of `chunk` the client may see now (complete events, minus usage)."""
        data = self._tail + chunk if self._tail else chunk
        if not _OPENAI_MARK.search(data):
            end = _last_event_end(data)
            self._tail = data[end:]
            return data[:end]
        out = []
        pos = 0
        for match in _EVENT_END.finditer(data):
            event = data[pos : match.end()]
            if not is_usage_only(event):
                out.append(event)
            pos = match.end()
        self._tail = data[pos:]
        return b"".join(out)

    def flush(self) -> bytes:
        """Whatever is left when the node ends its answer."""
        tail, self._tail = self._tail, b""
        return b"" if is_usage_only(tail) else tail
