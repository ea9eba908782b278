"""Anthropic Messages streams <-> IR stream events.

An Anthropic stream is named SSE events (`event: message_start` ...); the decoder is fed
each event's JSON document, which names its type too (`{"type": "message_start", ...}`).
Blocks are numbered (`index`) and opened, filled by deltas and closed one at a time;
`message_delta` carries the stop reason and the cumulative usage, `message_stop` ends.

The encoder writes the events each IR event implies at once. It opens a block when the
kind of content changes (text, thinking, a tool call) and closes the one before; a
thinking block closes at its signature (Anthropic sends `signature_delta` just before
`content_block_stop`). Text or thinking that arrives while a tool call's block is open
waits for the call's end, since a block cannot be reopened. `message_delta` and
`message_stop` are written at the end, when the final usage is known (an OpenAI node
reports it after its finish). Only the first choice is written: Anthropic has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.anthropic.translate_answer import (
    decode_stop,
    decode_usage,
    encode_usage,
    stop_reason,
)
from router.dialects.anthropic.translate_content import id_with_signature, split_signature
from router.dialects.anthropic.translate_errors import decode_stream_error, error_event
from router.dialects.chat_answer import (
    AnswerContext,
    ChatEvent,
    Finish,
    MediaOutput,
    ReasoningDelta,
    RedactedReasoning,
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
from router.dialects.chat_wire import compact_json, data_url

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


class AnthropicStreamDecoder:
    """Events of an Anthropic stream -> IR events."""

    __slots__ = ("_calls", "_context", "_ended", "_made", "_open", "_started", "_usage")

    def __init__(self, context: AnswerContext) -> None:
        self._context = context
        self._started = False
        self._ended = False
        self._calls: dict[int, int] = {}  # block index -> call index, for tool_use blocks
        self._open: dict[int, bool] = {}  # call index -> its arguments so far are not empty
        self._made = 0  # tool calls so far
        self._usage: dict[str, Any] = {}  # the cumulative usage so far

    def feed(self, document: Any) -> list[ChatEvent]:
        """The events one node event implies."""
        if self._ended or not isinstance(document, Mapping):
            return []
        events: list[ChatEvent] = []
        if not self._started:
            message = document.get("message")
            events.append(self._start(message if isinstance(message, Mapping) else {}))
        kind = document.get("type")
        if kind == "error":
            self._ended = True
            return [*events, StreamError(decode_stream_error(document))]
        if kind == "message_start":
            message = document.get("message")
            if isinstance(message, Mapping):
                events.extend(self._usage_report(message.get("usage")))
        elif kind == "content_block_start":
            events.extend(self._block_start(document))
        elif kind == "content_block_delta":
            events.extend(self._delta(document))
        elif kind == "content_block_stop":
            call = self._calls.pop(_index(document), None)
            events.extend(self._close(call) if call is not None else [])
        elif kind == "message_delta":
            events.extend(self._message_delta(document))
        elif kind == "message_stop":
            events.extend(self.end())
        return events

    def end(self) -> list[ChatEvent]:
        """`message_stop`, or the node's stream ended."""
        if self._ended:
            return []
        events: list[ChatEvent] = [] if self._started else [self._start({})]
        for call in sorted(self._open):
            events.extend(self._close(call))
        self._ended = True
        return [*events, StreamEnd()]

    def _start(self, message: Mapping[str, Any]) -> StreamStart:
        self._started = True
        ident, model = message.get("id"), message.get("model")
        return StreamStart(
            id=ident if isinstance(ident, str) and ident else self._context.id,
            model=model if isinstance(model, str) and model else self._context.model,
            created=self._context.created,
        )

    def _block_start(self, document: Mapping[str, Any]) -> list[ChatEvent]:
        block = document.get("content_block")
        if not isinstance(block, Mapping):
            return []
        kind = block.get("type")
        if kind == "text":
            return _text(block.get("text"))
        if kind == "thinking":
            text = block.get("thinking")
            return [ReasoningDelta(text)] if isinstance(text, str) and text else []
        if kind == "redacted_thinking":
            data = block.get("data")
            return [RedactedReasoning(data)] if isinstance(data, str) else []
        ident, name = block.get("id"), block.get("name")
        if kind != "tool_use" or not isinstance(ident, str) or not isinstance(name, str):
            return []  # a server tool's block: the router asks for none
        call, self._made = self._made, self._made + 1
        self._calls[_index(document)] = call
        self._open[call] = False
        call_id, signature = split_signature(ident)
        events: list[ChatEvent] = [ToolCallStart(call, call_id, name, signature=signature)]
        given = block.get("input")
        if isinstance(given, Mapping) and given:  # a whole input at the start (not Anthropic's way)
            self._open[call] = True
            events.append(ToolCallDelta(call, compact_json(given)))
        return events

    def _delta(self, document: Mapping[str, Any]) -> list[ChatEvent]:
        delta = document.get("delta")
        if not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return _text(delta.get("text"))
        if kind == "thinking_delta":
            text = delta.get("thinking")
            return [ReasoningDelta(text)] if isinstance(text, str) and text else []
        if kind == "signature_delta":
            signature = delta.get("signature")
            return [ReasoningDelta("", signature=signature)] if isinstance(signature, str) else []
        call = self._calls.get(_index(document))
        piece = delta.get("partial_json")
        if kind == "input_json_delta" and call is not None and isinstance(piece, str) and piece:
            self._open[call] = True
            return [ToolCallDelta(call, piece)]
        return []

    def _close(self, call: int) -> list[ChatEvent]:
        if call not in self._open:
            return []
        events: list[ChatEvent] = [] if self._open.pop(call) else [ToolCallDelta(call, "{}")]
        return [*events, ToolCallEnd(call)]

    def _message_delta(self, document: Mapping[str, Any]) -> list[ChatEvent]:
        events: list[ChatEvent] = []
        delta = document.get("delta")
        if isinstance(delta, Mapping):
            reason = decode_stop(delta.get("stop_reason"))
            if reason is not None:
                for call in sorted(self._open):
                    events.extend(self._close(call))
                sequence = delta.get("stop_sequence")
                sequence = sequence if isinstance(sequence, str) else None
                events.append(Finish(reason, 0, sequence))
        return [*events, *self._usage_report(document.get("usage"))]

    def _usage_report(self, usage: Any) -> list[ChatEvent]:
        if not isinstance(usage, Mapping):
            return []
        for name in _USAGE_FIELDS:
            if usage.get(name) is not None:
                self._usage[name] = usage[name]
        reported = decode_usage(self._usage)
        return [UsageReport(reported)] if reported is not None else []


def _index(document: Mapping[str, Any]) -> int:
    index = document.get("index")
    return index if type(index) is int else -1


def _text(value: Any) -> list[ChatEvent]:
    return [TextDelta(value)] if isinstance(value, str) and value else []


class AnthropicStreamEncoder:
    """IR events -> Anthropic SSE bytes for a client."""

    __slots__ = (
        "_blocks",
        "_done",
        "_finish",
        "_has_calls",
        "_held",
        "_open",
        "_open_call",
        "_trace_id",
        "_usage",
    )

    def __init__(self, *, trace_id: str = "") -> None:
        self._trace_id = trace_id
        self._blocks = 0  # blocks opened so far (the next block's index)
        self._open: str | None = None  # the open block's type
        self._open_call: int | None = None  # the call index of an open tool_use block
        self._held: list[ChatEvent] = []  # content waiting for the open call's end
        self._finish: Finish | None = None
        self._has_calls = False
        self._usage = TokenUsage()
        self._done = False

    def encode(self, event: ChatEvent) -> bytes:
        """The bytes one IR event implies."""
        if self._done or getattr(event, "choice", 0) != 0:
            return b""
        if isinstance(event, StreamStart):
            return _event("message_start", {"type": "message_start", "message": _head(event)})
        if isinstance(event, TextDelta | ReasoningDelta | RedactedReasoning | MediaOutput):
            if self._open == "tool_use":
                self._held.append(event)
                return b""
            return self._content(event)
        if isinstance(event, ToolCallStart):
            return self._call_start(event)
        if isinstance(event, ToolCallDelta):
            if self._open != "tool_use" or self._open_call != event.index or not event.arguments:
                return b""
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            return self._delta(delta)
        if isinstance(event, ToolCallEnd):
            return self._close() + self._release() if self._open_call == event.index else b""
        if isinstance(event, Finish):
            self._finish = event
            return self._close() + self._release() + self._close()
        if isinstance(event, UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, StreamError):
            self._done = True
            return self._close() + error_event(event.error, self._trace_id)
        if isinstance(event, StreamEnd):
            return self._end()
        return b""

    def _content(self, event: ChatEvent) -> bytes:
        if isinstance(event, MediaOutput):
            media = event.media
            url = media.url or data_url(media.mime_type, media.data or "")
            event = TextDelta(f"![{media.kind.value}]({url})")
        if isinstance(event, RedactedReasoning):
            block = {"type": "redacted_thinking", "data": event.data}
            return self._close() + self._open_block(block) + self._close()
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            out = self._ensure({"type": "text", "text": ""})
            return out + self._delta({"type": "text_delta", "text": event.text})
        if not isinstance(event, ReasoningDelta) or (not event.text and event.signature is None):
            return b""
        out = self._ensure({"type": "thinking", "thinking": "", "signature": ""})
        if event.text:
            out += self._delta({"type": "thinking_delta", "thinking": event.text})
        if event.signature is not None:
            out += self._delta({"type": "signature_delta", "signature": event.signature})
            out += self._close()
        return out

    def _call_start(self, event: ToolCallStart) -> bytes:
        self._has_calls = True
        call_id = id_with_signature(event.id, event.signature)
        block = {"type": "tool_use", "id": call_id, "name": event.name, "input": {}}
        out = self._close() + self._open_block(block)
        self._open_call = event.index
        return out

    def _ensure(self, block: dict[str, Any]) -> bytes:
        if self._open == block["type"]:
            return b""
        return self._close() + self._open_block(block)

    def _open_block(self, block: dict[str, Any]) -> bytes:
        self._open = block["type"]
        start = {"type": "content_block_start", "index": self._blocks, "content_block": block}
        return _event("content_block_start", start)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": self._blocks, "delta": delta}
        return _event("content_block_delta", body)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open, self._open_call = None, None
        index, self._blocks = self._blocks, self._blocks + 1
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _release(self) -> bytes:
        held, self._held = self._held, []
        return b"".join(self._content(event) for event in held)

    def _end(self) -> bytes:
        out = self._close() + self._release() + self._close()
        self._done = True
        finish = self._finish
        sequence = finish.stop_sequence if finish is not None else None
        reason = stop_reason(finish.reason if finish else None, self._has_calls, sequence)
        delta = {
            "stop_reason": reason,
            "stop_sequence": sequence if reason == "stop_sequence" else None,
        }
        usage = encode_usage(self._usage)
        out += _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + _event("message_stop", {"type": "message_stop"})


def _head(event: StreamStart) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": "message",
        "role": "assistant",
        "model": event.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _event(name: str, body: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"
