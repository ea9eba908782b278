"""Where a node's answer carries its first token: the scan behind `timeouts.first_token`
and hedging.

A streamed answer often opens with bytes that say nothing yet: the OpenAI role-only
chunk (`"delta": {"role": "assistant"}`), SSE comments and keep-alives, the Responses
API's `response.created` events. A node can send those and then stall; counting them as
the first token would commit the request to a node that never answers. The scanner reads
the SSE lines as they arrive and says when the first one with content arrived: a content,
reasoning, refusal, tool-call or audio delta, a finish reason, a usage report, an error,
`[DONE]`, or anything it does not recognise (the conservative side: an unknown event
commits, it is never held back).

A non-SSE answer (a whole JSON body, Gemini's JSON-array stream) has content in its first
byte. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

import orjson

# Content-free bytes held back at most; past this the answer is committed anyway, so a
# node that sends only keep-alives still reaches the client (bounded memory per request).
MAX_HELD_BYTES = 8 * 1024

# OpenAI delta fields that carry content (any non-empty one is the first token).
_DELTA_CONTENT = (
    "content",
    "reasoning_content",
    "reasoning",
    "tool_calls",
    "refusal",
    "function_call",
    "audio",
)

# Responses API events sent before any output.
_RESPONSES_OPENING = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    }
)


class FirstTokenScanner:
    """Fed a node's body chunks in order; `feed` is True once content has arrived."""

    __slots__ = ("_partial", "found", "held", "is_sse")

    def __init__(self, content_type: str) -> None:
        self.is_sse = content_type == "text/event-stream"
        self.found = False
        self.held = 0  # bytes seen so far
        self._partial = b""

    def feed(self, chunk: bytes) -> bool:
        """True when `chunk` (or an earlier one) holds the first token, or when holding
        more would pass MAX_HELD_BYTES."""
        if self.found or not chunk:
            return self.found
        self.held += len(chunk)
        if not self.is_sse or self.held > MAX_HELD_BYTES:
            self.found = True
            return True
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        self.found = any(line_has_content(line) for line in lines)
        return self.found


def line_has_content(line: bytes) -> bool:
    """Whether one SSE line (without its newline) carries content."""
    line = line.rstrip(b"\r")
    if not line.startswith(b"data:"):
        # Blank lines end events; `:` comments, `event:`, `id:` and `retry:` say nothing.
        return False
    payload = line[5:].strip()
    if not payload:
        return False
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return True  # `[DONE]`, or data we cannot read: not ours to hold back
    return event_has_content(event)


def event_has_content(event: Any) -> bool:
    """Whether one decoded `data:` payload carries content (see the module's list)."""
    if not isinstance(event, dict):
        return True
    if "choices" in event:
        return _openai_has_content(event)
    if "candidates" in event:
        return _gemini_has_content(event)
    kind = event.get("type")
    if isinstance(kind, str):
        return kind not in _RESPONSES_OPENING
    return True


def _openai_has_content(event: dict[str, Any]) -> bool:
    choices = event["choices"]
    if not isinstance(choices, list) or event.get("usage") or "error" in event:
        return True
    for choice in choices:
        if not isinstance(choice, dict):
            return True
        if choice.get("finish_reason") is not None or choice.get("text"):
            return True
        delta = choice.get("delta", choice.get("message"))
        if delta is None:
            continue
        if not isinstance(delta, dict):
            return True
        if any(delta.get(name) for name in _DELTA_CONTENT):
            return True
    return False


def _gemini_has_content(event: dict[str, Any]) -> bool:
    candidates = event["candidates"]
    if not isinstance(candidates, list) or "promptFeedback" in event or "error" in event:
        return True
    for candidate in candidates:
        if not isinstance(candidate, dict) or candidate.get("finishReason"):
            return True
        content = candidate.get("content")
        if content is None:
            continue
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            return True
        for part in parts:
            if not isinstance(part, dict) or part.get("text"):
                return True
            if any(key not in ("text", "thought", "thoughtSignature") for key in part):
                return True  # a function call, inline data, executable code, ...
    return False
