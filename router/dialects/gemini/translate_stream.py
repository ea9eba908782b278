"""Gemini streamGenerateContent streams <-> IR stream events.

Each Gemini chunk is a whole GenerateContentResponse. Function calls come whole in one
part (no argument deltas): the decoder yields start, one delta and end at once; the
encoder holds a call's argument deltas until its end, then writes one functionCall part.
Frames: with `alt=sse` each chunk is `data: {json}` and a blank line (`\\r\\n\\r\\n`, as
Google writes it); without, the stream is one JSON array written piece by piece (`[`,
`,\\r\\n` between chunks, `]` at the end). A mid-stream error is, with SSE, the error
object on a line of its own (what the router writes; `router.dialects.gemini.replies`), and
in an array its last element.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.chat import MediaPart
from router.dialects.chat_answer import (
    AnswerContext,
    ChatEvent,
    Finish,
    FinishReason,
    MediaOutput,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageReport,
)
from router.dialects.chat_wire import compact_json, kind_of_mime, lookup
from router.dialects.gemini.replies import stream_error_line
from router.dialects.gemini.translate_answer import (
    GEMINI_OF_FINISH,
    answer_head,
    call_id,
    decode_error,
    decode_finish,
    decode_usage,
    encode_error,
    encode_usage,
)
from router.dialects.gemini.translate_content import PLACEHOLDER_SIGNATURE, call_args, encode_media


class GeminiStreamDecoder:
    """Chunks of a Gemini stream -> IR events."""

    __slots__ = ("_calls", "_context", "_ended", "_id", "_per_choice", "_started")

    def __init__(self, context: AnswerContext) -> None:
        self._context = context
        self._id = context.id
        self._started = False
        self._ended = False
        self._calls = 0  # function calls in the answer so far (for ids)
        self._per_choice: dict[int, int] = {}  # choice -> its calls so far

    def feed(self, document: Any) -> list[ChatEvent]:
        if self._ended:
            return []
        if isinstance(document, list):  # a JSON-array stream read whole
            return [e for item in document for e in self.feed(item)]
        if not isinstance(document, Mapping):
            return []
        events: list[ChatEvent] = []
        if not self._started:
            self._started = True
            self._id, model = answer_head(document, self._context)
            events.append(StreamStart(self._id, model, self._context.created))
        if document.get("error") is not None:
            error = document["error"]
            status = error.get("code") if isinstance(error, Mapping) else None
            status = status if type(status) is int and 400 <= status < 600 else 500
            return [*events, StreamError(decode_error(status, document))]
        candidates = document.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else []):
            if isinstance(candidate, Mapping):
                events.extend(self._candidate(candidate, position))
        feedback = lookup(document, "promptFeedback")
        if not candidates and isinstance(feedback, Mapping) and lookup(feedback, "blockReason"):
            events.append(Finish(FinishReason.CONTENT_FILTER, 0))
        usage = decode_usage(lookup(document, "usageMetadata"))
        if usage is not None:
            events.append(UsageReport(usage))
        return events

    def end(self) -> list[ChatEvent]:
        if self._ended:
            return []
        self._ended = True
        if self._started:
            return [StreamEnd()]
        self._started = True
        ctx = self._context
        return [StreamStart(ctx.id, ctx.model, ctx.created), StreamEnd()]

    def _candidate(self, candidate: Mapping[str, Any], position: int) -> list[ChatEvent]:
        index = candidate.get("index")
        n = index if type(index) is int and index >= 0 else position
        events: list[ChatEvent] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, Mapping):
                events.extend(self._part(part, n))
        reason = decode_finish(lookup(candidate, "finishReason"), self._per_choice.get(n, 0) > 0)
        if reason is not None:
            events.append(Finish(reason, n))
        return events

    def _part(self, part: Mapping[str, Any], choice: int) -> list[ChatEvent]:
        signature = lookup(part, "thoughtSignature")
        if not isinstance(signature, str) or signature in ("", PLACEHOLDER_SIGNATURE):
            signature = None
        text = part.get("text")
        if isinstance(text, str) and (text or signature):
            if part.get("thought") is True:
                return [ReasoningDelta(text, choice, signature)]
            return [TextDelta(text, choice, signature)]
        call = lookup(part, "functionCall")
        if isinstance(call, Mapping) and isinstance(call.get("name"), str):
            ident = call.get("id")
            if not isinstance(ident, str) or not ident:
                ident = call_id(self._id, self._calls)
            self._calls += 1
            k = self._per_choice.get(choice, 0)
            self._per_choice[choice] = k + 1
            args = call.get("args")
            arguments = compact_json(args if isinstance(args, Mapping) else {})
            return [
                ToolCallStart(k, ident, call["name"], choice, signature),
                ToolCallDelta(k, arguments, choice),
                ToolCallEnd(k, choice),
            ]
        for name, is_inline in (("inlineData", True), ("fileData", False)):
            media = lookup(part, name)
            if isinstance(media, Mapping):
                found = _media(media, is_inline)
                return [MediaOutput(found, choice)] if found is not None else []
        return []


def _media(media: Mapping[str, Any], is_inline: bool) -> MediaPart | None:
    mime = lookup(media, "mimeType")
    mime = mime if isinstance(mime, str) else None
    value = media.get("data") if is_inline else lookup(media, "fileUri")
    if not isinstance(value, str):
        return None
    if is_inline:
        return MediaPart(kind_of_mime(mime), mime_type=mime, data=value)
    return MediaPart(kind_of_mime(mime), mime_type=mime, url=value)


class GeminiStreamEncoder:
    """IR events -> Gemini stream bytes for a client (SSE, or a JSON array)."""

    __slots__ = ("_calls", "_done", "_finish", "_head", "_json_array", "_trace_id", "_written")

    def __init__(self, *, json_array: bool = False, trace_id: str = "") -> None:
        self._json_array = json_array
        self._trace_id = trace_id
        self._head: dict[str, Any] = {}
        self._calls: dict[tuple[int, int], tuple[ToolCallStart, list[str]]] = {}
        self._written = False
        self._done = False
        # A finish waits for the usage that follows it (or the end): Gemini's last chunk
        # carries both, and the SDKs read the finish reason from the last chunk.
        self._finish: Finish | None = None

    def encode(self, event: ChatEvent) -> bytes:
        if self._done:
            return b""
        finish = self._finish
        if finish is not None:
            self._finish = None
            if isinstance(event, UsageReport):
                usage = {"usageMetadata": encode_usage(event.usage)}
                return self._finished(finish, usage)
            return self._finished(finish) + self.encode(event)
        if isinstance(event, StreamStart):
            self._head = {"modelVersion": event.model, "responseId": event.id}
            return b""
        if isinstance(event, TextDelta | ReasoningDelta):
            return self._part_event(event)
        if isinstance(event, MediaOutput):
            return self._chunk(event.choice, [encode_media(event.media)])
        if isinstance(event, ToolCallStart):
            self._calls[(event.choice, event.index)] = (event, [])
            return b""
        if isinstance(event, ToolCallDelta):
            pending = self._calls.get((event.choice, event.index))
            if pending is not None:
                pending[1].append(event.arguments)
            return b""
        if isinstance(event, ToolCallEnd):
            return self._call(event)
        if isinstance(event, Finish):
            self._finish = event
            return b""
        if isinstance(event, UsageReport):
            usage = {"usageMetadata": encode_usage(event.usage)}
            return self._chunk(0, [{"text": ""}], extra=usage)
        if isinstance(event, StreamError):
            return self._error(encode_error(event.error, self._trace_id))
        if isinstance(event, StreamEnd):
            self._done = True
            if not self._json_array:
                return b""
            return b"]" if self._written else b"[]"
        return b""  # redacted reasoning: another provider's data

    def _finished(self, event: Finish, extra: dict[str, Any] | None = None) -> bytes:
        return self._chunk(event.choice, [{"text": ""}], GEMINI_OF_FINISH[event.reason], extra)

    def _part_event(self, event: TextDelta | ReasoningDelta) -> bytes:
        if not event.text and event.signature is None:
            return b""
        part: dict[str, Any] = {"text": event.text}
        if isinstance(event, ReasoningDelta):
            part["thought"] = True
        if event.signature is not None:
            part["thoughtSignature"] = event.signature
        return self._chunk(event.choice, [part])

    def _call(self, event: ToolCallEnd) -> bytes:
        pending = self._calls.pop((event.choice, event.index), None)
        if pending is None:
            return b""
        start, pieces = pending
        call = {"name": start.name, "args": call_args("".join(pieces) or "{}", lenient=True)}
        call["id"] = start.id
        part: dict[str, Any] = {"functionCall": call}
        if start.signature is not None:
            part["thoughtSignature"] = start.signature
        return self._chunk(event.choice, [part])

    def _chunk(
        self,
        choice: int,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": choice}
        if finish is not None:
            candidate["finishReason"] = finish
        return self._frame({"candidates": [candidate], **(extra or {}), **self._head})

    def _frame(self, document: dict[str, Any]) -> bytes:
        data = orjson.dumps(document)
        if not self._json_array:
            return b"data: " + data + b"\r\n\r\n"
        lead = b",\r\n" if self._written else b"["
        self._written = True
        return lead + data

    def _error(self, document: dict[str, Any]) -> bytes:
        self._done = True
        if not self._json_array:
            return stream_error_line(orjson.dumps(document))
        return self._frame(document) + b"]"
