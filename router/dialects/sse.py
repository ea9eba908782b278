"""Server-sent events as every reader of a node's answer sees them: the one home of SSE framing.

An event ends at a blank line: two line ends in a row, each CRLF, LF or CR (the SSE
specification allows all three, mixed); a CR that ends a chunk waits for the next byte,
as it may be half a CRLF. Its `data:` lines, joined by newlines, are its payload; `[DONE]`
is the payload that ends an OpenAI-style stream.

How the cutting works (`EventCutter`): chunks arrive split anywhere. The bytes of an event
still arriving are kept as the chunks they came in (never joined until the event ends),
and each new chunk is searched once, together with the last three bytes before it (an
event's end, a blank line of at most four bytes, may straddle two chunks). So the work per
chunk is linear in the chunk, whatever the event's length. An event that grows past
`cap` bytes is not held any longer: what was held and everything up to its end come out
as `Piece`s marked not whole, passed on unread, and the cutting goes on after its end. A
node that sends one 40 MB line therefore costs at most `cap` bytes per reader, and no
quadratic copying.

Every reader (the usage tap and filter, the first-token scan, the continuation, the
delivered-output meter) cuts with `EventCutter`, or `EventSplitter` (whole events only).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import orjson

# A blank line: two line ends in a row, each CRLF, LF or CR, mixed as they come.
EVENT_END: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n){2}")
DONE: Final = b"[DONE]"
DONE_EVENT: Final = b"data: " + DONE + b"\n\n"
MAX_HELD_EVENT = 1024 * 1024  # an event a continuation holds longer than this goes as is
_DATA = b"data:"
# Every event end holds one of these pairs, at its start or one byte in (CRLF CRLF holds
# LF CR): found by bytes.find (memchr speed), and only there is the pattern tried, so a
# megabyte of text costs three fast scans, not a regex step per byte.
_PAIRS = (b"\n\n", b"\r\r", b"\n\r")
MAX_EVENT = 4 * 1024 * 1024  # the longest event read; longer ones pass through unread
_LOOKBACK = 3  # an event end is at most 4 bytes: 3 before a chunk, 1 in it
_LINE_STARTS = (b"\r", b"\n")
_CRLF_END = b"\r\n\r\n"


class Piece(NamedTuple):
    """Bytes of the stream in order: a whole event (`whole`), or part of an overlong one."""

    data: bytes
    whole: bool


class EventCutter:
    """Whole SSE events out of arbitrary chunks; events over `cap` bytes pass unread."""

    __slots__ = ("_cap", "_carry", "_held", "_overflow", "_pending")

    def __init__(self, cap: int = MAX_EVENT) -> None:
        self._cap = cap
        self._pending: list[bytes] = []  # the unfinished event, as it arrived
        self._held = 0
        self._carry = b""  # the last bytes before the next chunk, for a straddling end
        self._overflow = False  # inside an event past the cap: passed on until its end

    def feed(self, chunk: bytes) -> list[Piece]:
        """The pieces `chunk` completes, in stream order."""
        if not self._pending and not self._overflow and _is_one_event(chunk):
            self._carry = b""
            return [Piece(chunk, True)]
        out: list[Piece] = []
        if not chunk:
            return out
        scan = self._carry + chunk if self._carry else chunk
        base = len(scan) - len(chunk)  # where `chunk` starts in `scan`
        start = 0  # where the next event starts in `chunk` (after any pending bytes)
        cut = False  # an event ended in this chunk (maybe right at its start)
        for found in _event_ends(scan):
            end = found - base
            if found == len(scan) and scan.endswith(b"\r"):
                break  # a CR last may be the first half of a CRLF still to come
            if self._overflow:
                out.append(Piece(chunk[start:end], False))
                self._overflow = False
            elif self._pending:
                self._pending.append(chunk[start:end])
                out.append(Piece(b"".join(self._pending), True))
                self._pending, self._held = [], 0
            else:
                out.append(Piece(chunk[start:end], True))
            start, cut = end, True
        rest = chunk[start:] if start else chunk
        # Only bytes of the event still arriving: an end already found is never met again.
        if cut or len(rest) >= _LOOKBACK:
            self._carry = rest[-_LOOKBACK:]
        else:
            self._carry = (self._carry + rest)[-_LOOKBACK:]
        if not rest:
            return out
        if self._overflow:
            out.append(Piece(rest, False))
            return out
        self._pending.append(rest)
        self._held += len(rest)
        if self._held > self._cap:  # too long to read: pass on what was held, then the rest
            out.extend(Piece(part, False) for part in self._pending)
            self._pending, self._held = [], 0
            self._overflow = True
        return out

    def takes_whole(self, chunk: bytes) -> bool:
        """Whether `chunk` is whole events with nothing held before it (`cuts_whole`): then
        it counts as cut, and the caller reads it as it is (`whole_events` splits it), with
        no pieces built. The usual chunk of a stream, so a reader's cost per chunk is a few
        scans at memchr speed."""
        if self._pending or self._overflow or not cuts_whole(chunk):
            return False
        self._carry = b""
        return True

    def rest(self) -> bytes:
        """The unfinished event held (the stream ended, or was cut, inside it); forgotten."""
        held, self._pending, self._held = self._pending, [], 0
        self._carry = b""
        return b"".join(held)

    @property
    def pending(self) -> bytes:
        """The unfinished event held now (kept)."""
        return b"".join(self._pending)

    @property
    def held(self) -> int:
        """Bytes of an unfinished event held now."""
        return self._held


def _is_one_event(chunk: bytes) -> bool:
    """Whether `chunk`, nothing held before it, is exactly one whole event (the usual
    chunk of a stream), so it needs no scanning."""
    if chunk.endswith(b"\n\n"):
        # LF-framed (OpenAI's): no CR, no blank line before its own end (`find` stops
        # short of that one).
        return b"\r" not in chunk and chunk.find(b"\n\n", 0, len(chunk) - 1) < 0
    # CRLF-framed (Google's): no other line pair in it (its own end holds the one LF-CR),
    # and no line end first that could finish an end begun in the chunk before.
    return (
        chunk.endswith(b"\r\n\r\n")
        and chunk[:1] not in _LINE_STARTS
        and chunk.find(b"\n\r", 0, len(chunk) - 3) < 0
        and b"\n\n" not in chunk
        and b"\r\r" not in chunk
    )


def cuts_whole(chunk: bytes) -> bool:
    """Whether `chunk`, nothing held before it, cuts into whole events with nothing left:
    one or several (a read may bring more than one) LF-framed events (OpenAI's: each LF
    pair then ends one, as no three LFs run together) or CRLF-framed ones (Google's:
    every CR and LF in it belongs to a CRLF CRLF pair, each pair one event's end)."""
    if b"\r" not in chunk:
        return chunk.endswith(b"\n\n") and b"\n\n\n" not in chunk
    ends = chunk.count(_CRLF_END)
    return chunk.endswith(_CRLF_END) and chunk.count(b"\r") == 2 * ends == chunk.count(b"\n")


def whole_events(chunk: bytes) -> list[bytes]:
    """The events of a chunk `cuts_whole` accepted, each with its blank line."""
    end = _CRLF_END if b"\r" in chunk else b"\n\n"
    events: list[bytes] = []
    start = 0
    at = chunk.find(end)
    while at >= 0:
        stop = at + len(end)
        events.append(chunk[start:stop])  # the whole chunk itself, when it is one event
        start = stop
        at = chunk.find(end, stop)
    return events


def _event_ends(data: bytes) -> Iterator[int]:
    """Where each event end in `data` ends, as EVENT_END.finditer would find them."""
    if b"\r" not in data:  # one memchr: LF alone (OpenAI's streams), or no line end at all
        if b"\n" not in data:
            return
        at = data.find(b"\n\n")
        while at >= 0:
            at += 2
            yield at
            at = data.find(b"\n\n", at)
        return
    upcoming = [data.find(pair) for pair in _PAIRS]  # the next of each pair, -1: no more
    pos = 0
    while True:
        live = [at for at in upcoming if at >= 0]
        if not live:
            return
        match = EVENT_END.search(data, max(min(live) - 1, pos))
        if match is None:  # cannot be: a pair always starts an end
            return
        pos = match.end()
        yield pos
        for i, at in enumerate(upcoming):
            if 0 <= at < pos:
                upcoming[i] = data.find(_PAIRS[i], pos)


def event_data(event: bytes) -> bytes:
    """The payload of one event: its `data:` lines joined by newlines (b"" when none)."""
    line = event.rstrip(b"\r\n")
    if line.startswith(_DATA) and b"\n" not in line and b"\r" not in line:
        return line[5:].lstrip(b" ")  # the usual event: one data line
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
    """Whole events (each with its blank line) out of arbitrary chunks, for a reader that
    must see each one before it goes on (the continuation): an unfinished one waits; one
    longer than MAX_HELD_EVENT comes out as it is, in one piece."""

    __slots__ = ("_cutter",)

    def __init__(self) -> None:
        self._cutter = EventCutter(MAX_HELD_EVENT)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events `chunk` completes."""
        events: list[bytes] = []
        passed: list[bytes] = []  # pieces of an overlong event, passed on as one
        for data, whole in self._cutter.feed(chunk):
            if whole:
                if passed:
                    events.append(b"".join(passed))
                    passed = []
                events.append(data)
            else:
                passed.append(data)
        if passed:
            events.append(b"".join(passed))
        return events

    def finish(self) -> list[bytes]:
        """At the end of the stream: the event held for a CR that ended it, if any."""
        if EVENT_END.search(self._cutter.pending) is None:
            return []
        return [self._cutter.rest()]

    @property
    def pending(self) -> bytes:
        """The unfinished event held back (dropped when its node fails)."""
        return self._cutter.pending
