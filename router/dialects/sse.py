"""Server-sent events as every reader of a node's answer sees them: the one home of SSE framing.

An event ends at a blank line: two line ends in a row, each CRLF, LF or CR (the SSE
specification allows all three, mixed). Its `data:` lines, joined by newlines, are its
payload; `[DONE]` is the payload that ends an OpenAI-style stream. A CR as the last byte
received may be the first half of a CRLF, so an event ending there is not complete yet.

Every reader (the usage tap and filter, the first-token scan, the continuation) cuts
events with `split_events` or `EventSplitter`; the usage tap's fast path, which only
needs to know where the last complete event ends, uses `last_event_end`. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

# A blank line: two line ends in a row, each CRLF, LF or CR, mixed as they come.
EVENT_END: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n){2}")
DONE: Final = b"[DONE]"
DONE_EVENT: Final = b"data: " + DONE + b"\n\n"
MAX_HELD_EVENT = 1024 * 1024  # an unfinished event longer than this is passed on as it is
_DATA = b"data:"
# Every blank line holds one of these pairs (LF LF, CR CR, or LF then a CR or CRLF).
_BLANK_PAIRS = (b"\r\r", b"\n\r")
_WHOLE = (b"\n\n", b"\r\n\r\n")  # how nearly every chunk of a stream ends


def split_events(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete events in `data` (each with its blank line) and the unfinished rest."""
    events: list[bytes] = []
    start = 0
    for end in EVENT_END.finditer(data):
        if end.end() == len(data) and data.endswith(b"\r"):
            break  # a CR last may be the first half of a CRLF still to come
        events.append(data[start : end.end()])
        start = end.end()
    return events, data[start:]


def last_event_end(data: bytes) -> int:
    """The offset just past the last blank line in `data` (0 when there is none).

    Cheaper than `split_events` (three searches from the end, no list), for readers that
    only need to know what is complete. Where several line ends follow each other it may
    count one more of them into the complete part, which no SSE reader minds.
    """
    if data.endswith(_WHOLE):  # the usual chunk: whole events, nothing to search
        return len(data)
    last = data.rfind(b"\n\n")
    end = last + 2 if last >= 0 else 0
    # A pair whose second byte is a CR received last may still become a CRLF: not yet.
    limit = len(data) - 1 if data.endswith(b"\r") else len(data)
    for pair in _BLANK_PAIRS:
        found = data.rfind(pair, 0, limit)
        if found >= 0:
            after = found + 2
            if after < len(data) and data[after] == 0x0A:  # the second line end is a CRLF
                after += 1
            end = max(end, after)
    return end


def event_data(event: bytes) -> bytes:
    """The payload of one event: its `data:` lines joined by newlines (b"" when none)."""
    parts = [line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(_DATA)]
    return b"\n".join(parts)


def event_document(event: bytes) -> Any:
    """The JSON of an event's payload; `DONE` for `[DONE]`; None for a comment, a
    keep-alive or anything that is not JSON."""
    payload = event_data(event)
    if not payload:
        return None
    if payload.strip() == DONE:
        return DONE
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


class EventSplitter:
    """Whole events out of arbitrary chunks; the unfinished one waits for its end."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events `chunk` completes; an unfinished one over MAX_HELD_EVENT comes out
        as it is (a reader must never hold an answer back without bound)."""
        events, self._tail = split_events(self._tail + chunk if self._tail else chunk)
        if len(self._tail) > MAX_HELD_EVENT:
            events.append(self._tail)
            self._tail = b""
        return events

    def finish(self) -> list[bytes]:
        """At the end of the stream: the event held for a CR that ended it, if any."""
        tail = self._tail
        if EVENT_END.search(tail) is None:
            return []
        self._tail = b""
        return [tail]

    @property
    def pending(self) -> bytes:
        """The unfinished event held back (dropped when its node fails)."""
        return self._tail
