"""OpenAI chat completion streams <-> IR stream events.

The decoder takes each chunk's parsed JSON (the SSE reader splits the events and spots
`[DONE]`; it calls `end()` then, or at the end of the node's stream). The encoder writes
the SSE bytes each IR event implies at once: one `data:` event per delta, the
`finish_reason` chunk, the usage chunk (`choices: []`) only when the client asked for it
(`stream_options.include_usage`), then `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatEvent,
    Finish,
    MediaOutput,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamStart,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageReport,
)
from router.dialects.openai.replies import stream_error_event
from router.dialects.openai.translate_answer import (
    OPENAI_OF_FINISH,
    decode_error,
    decode_finish,
    decode_usage,
    encode_error,
    encode_usage,
)
from router.dialects.openai.translate_content import extra_content, thought_signature
from router.dialects.sse import DONE_EVENT


class OpenAIStreamDecoder:
    """Chunks of an OpenAI stream -> IR events."""

    __slots__ = ("_context", "_ended", "_open", "_seen", "_started")

    def __init__(self, context: AnswerContext) -> None:
        self._context = context
        self._started = False
        self._ended = False
        self._open: dict[int, set[int]] = {}  # choice -> indexes of tool calls under way
        self._seen: dict[int, set[int]] = {}  # choice -> indexes of tool calls started

    def feed(self, document: Any) -> list[ChatEvent]:
        """The events one chunk implies."""
        if self._ended or not isinstance(document, Mapping):
            return []
        events: list[ChatEvent] = []
        if not self._started:
            events.append(self._start(document))
        if "error" in document and document.get("error") is not None:
            status = document["error"].get("code") if isinstance(document["error"], Mapping) else 0
            status = status if isinstance(status, int) and 400 <= status < 600 else 500
            events.append(StreamError(decode_error(status, document)))
            return events
        choices = document.get("choices")
        for position, choice in enumerate(choices if isinstance(choices, list) else []):
            if isinstance(choice, Mapping):
                events.extend(self._choice(choice, position))
        usage = decode_usage(document.get("usage"))
        if usage is not None:
            events.append(UsageReport(usage))
        return events

    def end(self) -> list[ChatEvent]:
        """`[DONE]`, or the node's stream ended."""
        if self._ended:
            return []
        events: list[ChatEvent] = [] if self._started else [self._start({})]
        for choice in sorted(self._open):
            events.extend(self._close_calls(choice))
        self._ended = True
        return [*events, StreamEnd()]

    def _start(self, document: Mapping[str, Any]) -> StreamStart:
        self._started = True
        ident, model, created = document.get("id"), document.get("model"), document.get("created")
        return StreamStart(
            id=ident if isinstance(ident, str) and ident else self._context.id,
            model=model if isinstance(model, str) and model else self._context.model,
            created=created if type(created) is int else self._context.created,
        )

    def _choice(self, choice: Mapping[str, Any], position: int) -> list[ChatEvent]:
        index = choice.get("index")
        n = index if type(index) is int and index >= 0 else position
        events: list[ChatEvent] = []
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning, n))
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    events.append(TextDelta(text, n))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, Mapping):
                    events.extend(self._call(call, n))
        reason, sequence = decode_finish(choice)
        if reason is not None:
            events.extend(self._close_calls(n))
            events.append(Finish(reason, n, sequence))
        return events

    def _call(self, call: Mapping[str, Any], choice: int) -> list[ChatEvent]:
        index = call.get("index")
        seen = self._seen.setdefault(choice, set())
        if type(index) is not int or index < 0:
            index = len(seen) if call.get("id") else max(seen, default=0)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        events: list[ChatEvent] = []
        if index not in seen:
            events.extend(self._close_calls(choice))  # one call at a time, as OpenAI streams
            seen.add(index)
            self._open.setdefault(choice, set()).add(index)
            ident, name = call.get("id"), function.get("name")
            events.append(
                ToolCallStart(
                    index=index,
                    id=ident if isinstance(ident, str) and ident else f"call_{choice}_{index}",
                    name=name if isinstance(name, str) else "",
                    choice=choice,
                    signature=thought_signature(call),
                )
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments and index in self._open.get(choice, ()):
            events.append(ToolCallDelta(index, arguments, choice))
        return events

    def _close_calls(self, choice: int) -> list[ChatEvent]:
        open_calls = self._open.pop(choice, set())
        return [ToolCallEnd(i, choice) for i in sorted(open_calls)]


class OpenAIStreamEncoder:
    """IR events -> OpenAI SSE bytes for a client."""

    __slots__ = ("_done", "_head", "_include_usage", "_prefix", "_trace_id", "_usage")

    def __init__(self, *, include_usage: bool, trace_id: str = "") -> None:
        self._include_usage = include_usage
        self._trace_id = trace_id
        self._head: dict[str, Any] = {"id": "", "object": "chat.completion.chunk"}
        self._prefix = _chunk_prefix(self._head)
        self._usage: TokenUsage | None = None
        self._done = False

    def encode(self, event: ChatEvent) -> bytes:
        """The bytes one IR event implies (often one SSE event, sometimes none)."""
        if self._done:
            return b""
        if isinstance(event, StreamStart):
            self._head = {
                "id": event.id,
                "object": "chat.completion.chunk",
                "created": event.created,
                "model": event.model,
            }
            self._prefix = _chunk_prefix(self._head)
            return self._chunk(0, {"role": "assistant", "content": ""})
        if isinstance(event, TextDelta):
            return self._chunk(event.choice, {"content": event.text}) if event.text else b""
        if isinstance(event, ReasoningDelta):
            if not event.text:
                return b""
            return self._chunk(event.choice, {"reasoning_content": event.text})
        if isinstance(event, MediaOutput):
            media = event.media
            url = media.url or f"data:{media.mime_type};base64,{media.data}"
            return self._chunk(event.choice, {"content": f"![{media.kind.value}]({url})"})
        if isinstance(event, ToolCallStart):
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
                **extra_content(event.signature),
            }
            return self._chunk(event.choice, {"tool_calls": [call]})
        if isinstance(event, ToolCallDelta):
            call = {"index": event.index, "function": {"arguments": event.arguments}}
            return self._chunk(event.choice, {"tool_calls": [call]})
        if isinstance(event, Finish):
            return self._chunk(event.choice, {}, OPENAI_OF_FINISH[event.reason])
        if isinstance(event, UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, StreamError):
            return self._error(event.error)
        if isinstance(event, StreamEnd):
            return self._end()
        return b""  # ToolCallEnd, RedactedReasoning: nothing to say in OpenAI's format

    def _chunk(self, choice: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        entry = {"index": choice, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._prefix + orjson.dumps(entry) + b"]}\n\n"

    def _error(self, error: ChatError) -> bytes:
        self._done = True
        return stream_error_event(orjson.dumps(encode_error(error, self._trace_id)))

    def _end(self) -> bytes:
        self._done = True
        out = b""
        if self._include_usage and self._usage is not None:
            body = {**self._head, "choices": [], "usage": encode_usage(self._usage)}
            out = b"data: " + orjson.dumps(body) + b"\n\n"
        return out + DONE_EVENT


def _chunk_prefix(head: dict[str, Any]) -> bytes:
    """A chunk event's bytes up to its one choice: `head` written once per stream, not
    again per chunk (orjson keeps the key order, so the bytes are those of the whole
    chunk written at once)."""
    return b"data: " + orjson.dumps(head)[:-1] + b',"choices":['
