"""What a client received of an answer, counted as characters of output text.

When a node's usage never reaches the router (the client left first, the node sent no
usage, or cut its answer), the charge is estimated from what the client was actually
sent: the prompt estimate plus the output delivered, 4 characters a token
(router.dialects.estimate.output_tokens, the estimator the continuation uses too).

How this works: `DeliveredMeter.feed` sees the bytes after they were written to the
client. An SSE answer is cut into events (router.dialects.sse_cut: bounded, linear) and
every whole event's JSON is read for its output text: content, reasoning, refusals and
tool calls (their names and arguments), in either API's shape; lazily, in batches,
since most answers end with the node's usage and are never measured this way. An event
longer than the cut's cap is not read; its bytes count as characters (it was delivered,
and its text cannot be longer than its bytes). A plain JSON answer is kept (up to a cap, sharing the
bytes the relay wrote) and read only when asked; one cut short, or too long, counts its
bytes delivered, the JSON around the text included (it errs high by that envelope).
The event a client left in the middle of is not counted: nothing could use half of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.sse_cut import MAX_EVENT, EventCutter
from router.dialects.usage_tap import MAX_COLLECTED, _Inflater

MAX_UNREAD = 64 * 1024  # bytes of whole events kept unread before a batch is read
_REASONING_KEYS = ("reasoning_content", "reasoning")  # DeepSeek/vLLM, and OpenRouter's
_CONTENT_KEYS = ("content", "refusal", "text")


@dataclass(frozen=True, slots=True)
class DeliveredOutput:
    """Characters of output text a client received: content (and tool calls), reasoning."""

    content_chars: int = 0
    reasoning_chars: int = 0


class DeliveredMeter:
    """Counts the output text of one answer as it is written to the client."""

    __slots__ = (
        "_body",
        "_cutter",
        "_finished",
        "_gemini",
        "_inflater",
        "_size",
        "_stream",
        "_unread",
        "_unread_bytes",
        "content",
        "reasoning",
    )

    def __init__(self, *, gemini: bool, is_stream: bool, coding: str | None = None) -> None:
        """`coding`: the answer's Content-Encoding when it is not plain (a node that
        compressed although asked for identity); an unknown one leaves it unread."""
        self._inflater = _Inflater(coding) if coding is not None else None
        self._gemini = gemini
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
        for data, whole in self._cutter.feed(chunk):
            if whole:
                self._unread.append(data)
                self._unread_bytes += len(data)
                if self._unread_bytes > MAX_UNREAD:
                    self._read_unread()
            else:
                self.content += len(data)  # too long to read: its bytes, at most its text

    def _read_unread(self) -> None:
        events, self._unread, self._unread_bytes = self._unread, [], 0
        for event in events:
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
        content, reasoning = output_chars(document, self._gemini)
        self.content += content
        self.reasoning += reasoning
        if not self._finished:
            self._finished = has_finish_reason(document, self._gemini)

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


def output_chars(document: Any, gemini: bool) -> tuple[int, int]:
    """Characters of output text in one answer or event: (content, reasoning). Content
    includes refusals and tool calls (names and arguments); anything else counts 0."""
    if isinstance(document, list):  # Gemini's streamed JSON array
        total = [0, 0]
        for item in document:
            content, reasoning = output_chars(item, gemini)
            total[0] += content
            total[1] += reasoning
        return total[0], total[1]
    if not isinstance(document, dict):
        return 0, 0
    if gemini:
        return _gemini_chars(document)
    if "choices" in document:
        return _choices_chars(document.get("choices"))
    return _responses_chars(document)


def has_finish_reason(document: Any, gemini: bool) -> bool:
    """Whether an event ends its answer's text: a choice's `finish_reason` (Gemini: a
    candidate's `finishReason`). Only the usage, and the end, may follow it."""
    if not isinstance(document, dict):
        return False
    items = document.get("candidates" if gemini else "choices")
    key = "finishReason" if gemini else "finish_reason"
    return isinstance(items, list) and any(isinstance(i, dict) and i.get(key) for i in items)


def _gemini_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    content = reasoning = 0
    candidates = document.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        body = candidate.get("content") if isinstance(candidate, dict) else None
        parts = body.get("parts") if isinstance(body, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                if part.get("thought") is True:
                    reasoning += len(text)
                else:
                    content += len(text)
            call = part.get("functionCall")
            if isinstance(call, dict):
                content += len(orjson.dumps(call))
    return content, reasoning


def _choices_chars(choices: object) -> tuple[int, int]:
    """Chat Completions (a stream's `delta`, an answer's `message`) and legacy `text`."""
    content = reasoning = 0
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            content += len(text)
        turn = choice.get("delta")
        if not isinstance(turn, dict):
            turn = choice.get("message")
        if not isinstance(turn, dict):
            continue
        for key in _CONTENT_KEYS:
            value = turn.get(key)
            if type(value) is str:
                content += len(value)
        for key in _REASONING_KEYS:  # a node sending both spellings sends the text twice
            value = turn.get(key)
            if type(value) is str and value:
                reasoning += len(value)
                break
        if "tool_calls" in turn or "function_call" in turn:
            content += _calls_chars(turn)
    return content, reasoning


def _calls_chars(turn: Mapping[str, Any]) -> int:
    calls = turn.get("tool_calls")
    functions = (
        [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    )
    functions.append(turn.get("function_call"))
    total = 0
    for function in functions:
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                value = function.get(key)
                total += len(value) if isinstance(value, str) else 0
    return total


def _responses_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    """The Responses API: a stream's `*.delta` events, or an answer's `output` items."""
    kind = document.get("type")
    delta = document.get("delta")
    if isinstance(kind, str) and isinstance(delta, str):
        return (0, len(delta)) if "reasoning" in kind else (len(delta), 0)
    content = reasoning = 0
    output = document.get("output")
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        is_reasoning = item.get("type") == "reasoning"
        arguments = item.get("arguments")
        content += len(arguments) if isinstance(arguments, str) else 0
        for part in _parts(item, "summary" if is_reasoning else "content"):
            text = part.get("text")
            if isinstance(text, str):
                if is_reasoning:
                    reasoning += len(text)
                else:
                    content += len(text)
    return content, reasoning


def _parts(item: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    parts = item.get(key)
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
