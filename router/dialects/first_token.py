"""Where a node's answer carries its first token: the scan behind `timeouts.first_token`
and hedging.

A streamed answer often opens with bytes that say nothing yet: a role-only chunk, SSE
comments and keep-alives, opening events. A node can send those and then stall;
counting them as the first token would commit the request to a node that never answers.
The scanner cuts the answer into SSE events (router.dialects.sse) as they arrive and
asks the node's dialect (`Answers.has_content`) whether each says something; `[DONE]`,
data that is not JSON and anything the dialect does not recognise count (the
conservative side: an unknown event commits, it is never held back).

A non-SSE answer (a whole JSON body, Gemini's JSON-array stream) has content in its first
byte. Pure: no I/O, no clock.
"""

from __future__ import annotations

import orjson

from router.dialects.codec import Answers
from router.dialects.sse import EventCutter, event_data

# Content-free bytes held back at most; past this the answer is committed anyway, so a
# node that sends only keep-alives still reaches the client (bounded memory per request).
MAX_HELD_BYTES = 8 * 1024


class FirstTokenScanner:
    """Fed a node's body chunks in order; `feed` is True once content has arrived."""

    __slots__ = ("_answers", "_cutter", "found", "held", "is_sse")

    def __init__(self, content_type: str, answers: Answers) -> None:
        self.is_sse = content_type == "text/event-stream"
        self._answers = answers  # the node's dialect's
        self.found = False
        self.held = 0  # bytes seen so far
        self._cutter = EventCutter(MAX_HELD_BYTES)

    def feed(self, chunk: bytes) -> bool:
        """True when `chunk` (or an earlier one) holds the first token, or when holding
        more would pass MAX_HELD_BYTES."""
        if self.found or not chunk:
            return self.found
        self.held += len(chunk)
        if not self.is_sse or self.held > MAX_HELD_BYTES:
            self.found = True
            return True
        # A piece not whole (an event over the cap) cannot be here: `held` passed it first.
        self.found = any(
            not whole or self.event_has_content(data) for data, whole in self._cutter.feed(chunk)
        )
        return self.found

    def event_has_content(self, event: bytes) -> bool:
        """Whether one SSE event (with its blank line) carries content."""
        payload = event_data(event).strip()
        if not payload:
            return False  # comments, `event:`, `id:`, `retry:` and empty data say nothing
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True  # `[DONE]`, or data we cannot read: not ours to hold back
        return self._answers.has_content(document)
