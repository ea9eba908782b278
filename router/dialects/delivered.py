"""What a client received of an answer, counted as characters of output text.

When a node's usage never reaches the router (the client left first, the node sent no
usage, or cut its answer), the charge is estimated from what the client was actually
sent: the prompt estimate plus the output delivered, 4 characters a token, a CJK one
counting 4 (router.dialects.estimate.output_tokens and text_size, the estimator the
continuation uses too).
Which characters of an event are output text is the client's dialect's business
(`Answers.output_chars`, `Answers.has_finish_reason`).

How this works: `DeliveredMeter.feed` sees the bytes after they were written to the
client. An SSE answer is cut into events (router.dialects.sse: bounded, linear) and
every whole event's JSON is read for its output text: content, reasoning, refusals and
tool calls (their names and arguments), in its dialect's shape; lazily, in batches,
since most answers end with the node's usage and are never measured this way. An event
longer than the cut's cap is not read; its bytes count as characters (it was delivered,
and its text cannot be longer than its bytes). A plain JSON answer is kept (up to a cap, sharing the
bytes the relay wrote) and read only when asked; one cut short, or too long, counts its
bytes delivered, the JSON around the text included (it errs high by that envelope).
The event a client left in the middle of is not counted: nothing could use half of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.codec import Answers
from router.dialects.sse import MAX_EVENT, EventCutter, whole_events
from router.dialects.usage_tap import MAX_COLLECTED, Inflater

MAX_UNREAD = 64 * 1024  # bytes of whole events kept unread before a batch is read


@dataclass(frozen=True, slots=True)
class DeliveredOutput:
    """Characters of output text a client received: content (and tool calls), reasoning."""

    content_chars: int = 0
    reasoning_chars: int = 0


class DeliveredMeter:
    """Counts the output text of one answer as it is written to the client."""

    __slots__ = (
        "_answers",
        "_body",
        "_cutter",
        "_finished",
        "_inflater",
        "_size",
        "_stream",
        "_unread",
        "_unread_bytes",
        "content",
        "reasoning",
    )

    def __init__(self, answers: Answers, *, is_stream: bool, coding: str | None = None) -> None:
        """`answers`: the dialect of what the client is sent; `coding`: the answer's
        Content-Encoding when it is not plain (a node that compressed although asked for
        identity); an unknown one leaves it unread."""
        self._inflater = Inflater(coding) if coding is not None else None
        self._answers = answers
        self._stream = is_stream
        self._cutter = EventCutter(MAX_EVENT)
        self._body: list[bytes] = []
        self._size = 0
        self.content = 0
        self.reasoning = 0
        self._finished = False
        # Whole events not read yet: most answers end with their usage, and then the meter
        # is never asked, so events are read only in batches of MAX_UNREAD or when asked.
        self._unread: list[bytes] = []
        self._unread_bytes = 0

    def feed(self, chunk: bytes) -> None:
        """The next bytes the client received."""
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
        if self._cutter.takes_whole(chunk):  # the usual chunk: kept whole, cut when read
            self._unread.append(chunk)
            self._unread_bytes += len(chunk)
            if self._unread_bytes > MAX_UNREAD:
                self._read_unread()
            return
        for data, whole in self._cutter.feed(chunk):
            if whole:
                self._unread.append(data)
                self._unread_bytes += len(data)
                if self._unread_bytes > MAX_UNREAD:
                    self._read_unread()
            else:
                self.content += len(data)  # too long to read: its bytes, at most its text

    def _read_unread(self) -> None:
        kept, self._unread, self._unread_bytes = self._unread, [], 0
        for events in kept:  # whole events: one, or several a read brought at once
            for event in whole_events(events):
                self._read_event(event)

    @property
    def finished(self) -> bool:
        """Whether a delivered event carried a finish reason: all the text is out."""
        self._read_unread()
        return self._finished

    def _read_event(self, event: bytes) -> None:
        if event.startswith(b"data:") and event.find(b"\n", 0, -2) < 0:  # one line: most
            payload = event[5:]
        else:
            lines = [line[5:] for line in event.splitlines() if line.startswith(b"data:")]
            if not lines:
                return
            payload = b"\n".join(lines)
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        self._count(document)

    def _count(self, document: Any) -> None:
        content, reasoning = output_chars(document, self._answers)
        self.content += content
        self.reasoning += reasoning
        if not self._finished:
            self._finished = self._answers.has_finish_reason(document)

    def output(self, *, ended: bool = False) -> DeliveredOutput | None:
        """What was delivered; None when nothing can be said (an unreadable compressed
        answer). `ended`: the answer was complete, so an event without its blank line
        at the very end counts too."""
        if self._inflater is not None and not self._inflater.readable:
            return None
        if self._stream:
            self._read_unread()
            if ended:
                self._read_event(self._cutter.rest())
            return DeliveredOutput(self.content, self.reasoning)
        if self._body and self._size <= MAX_COLLECTED:
            try:
                self._count(orjson.loads(b"".join(self._body)))
            except orjson.JSONDecodeError:
                self.content += self._size  # cut short: its bytes delivered
            self._body = []
            self._size = 0
        elif self._size:
            self.content += self._size
            self._size = 0
        return DeliveredOutput(self.content, self.reasoning)


def output_chars(document: Any, answers: Answers) -> tuple[int, int]:
    """Characters of output text in one answer or event: (content, reasoning); a JSON
    array (Gemini's stream without SSE) counts each of its items."""
    if isinstance(document, list):
        total = [0, 0]
        for item in document:
            content, reasoning = output_chars(item, answers)
            total[0] += content
            total[1] += reasoning
        return total[0], total[1]
    if not isinstance(document, dict):
        return 0, 0
    return answers.output_chars(document)
