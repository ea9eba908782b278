"""Cutting a node's SSE bytes into whole events, in bounded memory and linear time.

How this works: chunks arrive split anywhere. The bytes of an event still arriving are
kept as the chunks they came in (never joined until the event ends), and each new chunk
is searched once, together with the last three bytes before it (an event's end, a blank
line of at most four bytes, may straddle two chunks). So the work per chunk is linear in
the chunk, whatever the event's length. An event that grows past `cap` bytes is not held
any longer: what was held and everything up to its end come out as `Piece`s marked not
whole, passed on unread, and the cutting goes on after its end. A node that sends one
40 MB line therefore costs at most `cap` bytes per reader, and no quadratic copying.

The end of an event is two line ends in a row, each CRLF, LF or CR, mixed as they come
(the SSE rule); a CR that ends a chunk waits for the next byte, as it may be half a CRLF.
"""

from __future__ import annotations

import re
from typing import NamedTuple

EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n){2}")
MAX_EVENT = 4 * 1024 * 1024  # the longest event read; longer ones pass through unread
_LOOKBACK = 3  # an event end is at most 4 bytes: 3 before a chunk, 1 in it


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
        out: list[Piece] = []
        if not chunk:
            return out
        scan = self._carry + chunk if self._carry else chunk
        base = len(scan) - len(chunk)  # where `chunk` starts in `scan`
        start = 0  # where the next event starts in `chunk` (after any pending bytes)
        for match in EVENT_END.finditer(scan):
            end = match.end() - base
            if match.end() == len(scan) and scan.endswith(b"\r"):
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
            start = end
        rest = chunk[start:] if start else chunk
        # Only bytes of the event still arriving: an end already found is never met again.
        if start or len(rest) >= _LOOKBACK:
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

    def rest(self) -> bytes:
        """The unfinished event held (the stream ended, or was cut, inside it); forgotten."""
        held, self._pending, self._held = self._pending, [], 0
        self._carry = b""
        return b"".join(held)

    @property
    def held(self) -> int:
        """Bytes of an unfinished event held now."""
        return self._held
