"""The translation driver: a request, an answer or a stream from one dialect to another,
through the IR (`chat`, `chat_answer`), given each side's `ChatMapping`.

It knows no wire format. A request goes client -> IR -> node; the answer goes node ->
IR -> client. A stream is translated event by event and unbuffered: `feed` takes one of
the node's event documents (parsed JSON) and returns at once every byte of the client's
events it implies; `end` is called at the node's `[DONE]` or end of stream. An IR setting
the node's dialect cannot express is refused with a 400 (`UnsupportedField`) naming the
field the client set, in the client's dialect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from router.dialects.chat import ChatRequest, WireRequest
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatEvent,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamError,
    TokenUsage,
    UsageReport,
)
from router.dialects.chat_wire import Feature, FieldRule, Unexpressible
from router.dialects.mapping import StreamDecoder, StreamEncoder
from router.errors import UnsupportedField


class ChatMapping(Protocol):
    """One dialect's wire format <-> the IR (`OPENAI_MAPPING`, `GEMINI_MAPPING`)."""

    @property
    def name(self) -> str: ...
    @property
    def request_fields(self) -> tuple[FieldRule, ...]: ...
    @property
    def field_of_feature(self) -> Mapping[Feature, str]: ...

    def decode_request(self, wire: WireRequest) -> ChatRequest: ...
    def encode_request(self, request: ChatRequest) -> WireRequest: ...
    def decode_response(self, document: Any, context: AnswerContext) -> ChatResponse: ...
    def encode_response(self, response: ChatResponse) -> bytes: ...
    def stream_decoder(self, context: AnswerContext) -> StreamDecoder: ...
    def stream_encoder(
        self, *, include_usage: bool, json_array: bool = False, trace_id: str = ""
    ) -> StreamEncoder: ...
    def decode_error(self, status: int, document: Any) -> ChatError: ...
    def encode_error(self, error: ChatError, trace_id: str) -> bytes: ...
    def decode_embedding_request(self, wire: WireRequest) -> EmbeddingRequest: ...
    def encode_embedding_request(self, request: EmbeddingRequest) -> WireRequest: ...
    def decode_embedding_response(self, document: Any, model: str) -> EmbeddingResponse: ...
    def encode_embedding_response(
        self, response: EmbeddingResponse, request: EmbeddingRequest
    ) -> bytes: ...
    def encode_token_count(self, tokens: int) -> bytes | None:
        """The answer to a count of a prompt's tokens (None: the dialect has no such call)."""
        ...


def translate_request(
    source: ChatMapping, target: ChatMapping, wire: WireRequest, model: str | None = None
) -> tuple[ChatRequest, WireRequest]:
    """The client's request as IR and as the node's wire request (for `model`, when the
    backend renames it). Raises InvalidRequest/UnsupportedField in the client's terms."""
    request = source.decode_request(wire)
    if model is not None and model != request.model:
        request = _renamed(request, model)
    return request, encode_for(source, target, request)


def encode_for(source: ChatMapping, target: ChatMapping, request: ChatRequest) -> WireRequest:
    """`target.encode_request`, its refusals named in the source dialect's fields."""
    try:
        return target.encode_request(request)
    except Unexpressible as exc:
        field = source.field_of_feature.get(exc.feature, exc.feature.value)
        raise UnsupportedField(field, f"a {target.name} backend cannot express it") from exc


def _renamed(request: ChatRequest, model: str) -> ChatRequest:
    return dataclasses.replace(request, model=model)


def translate_response(
    source: ChatMapping, target: ChatMapping, document: Any, context: AnswerContext
) -> tuple[ChatResponse, bytes]:
    """The node's whole answer (in `target`'s dialect) as IR and as the client's bytes
    (in `source`'s). Raises UntranslatableAnswer for an answer that cannot be read."""
    response = target.decode_response(document, context)
    return response, source.encode_response(response)


def translate_error(
    source: ChatMapping, target: ChatMapping, status: int, document: Any, trace_id: str
) -> tuple[ChatError, bytes]:
    """The node's error answer as IR and as the client's error body (same status)."""
    error = target.decode_error(status, document)
    return error, source.encode_error(error, trace_id)


class StreamTranslation:
    """One streamed answer, node dialect -> client dialect, event by event.

    `usage` is the last usage the node reported (what billing charges), whether or not
    the client asked to see it; `error` the node's mid-stream error, if any. With
    `errors_inline` False that error is not written (the caller ends the stream its own
    way) and nothing after it is."""

    __slots__ = ("_decoder", "_encoder", "_errors_inline", "error", "usage")

    def __init__(
        self, decoder: StreamDecoder, encoder: StreamEncoder, *, errors_inline: bool = True
    ) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self._errors_inline = errors_inline
        self.usage: TokenUsage | None = None
        self.error: ChatError | None = None

    @classmethod
    def between(
        cls,
        source: ChatMapping,
        target: ChatMapping,
        context: AnswerContext,
        *,
        include_usage: bool,
        json_array: bool = False,
        trace_id: str = "",
        errors_inline: bool = True,
    ) -> StreamTranslation:
        """A translation of `target`'s stream into `source`'s, for one client request."""
        encoder = source.stream_encoder(
            include_usage=include_usage, json_array=json_array, trace_id=trace_id
        )
        return cls(target.stream_decoder(context), encoder, errors_inline=errors_inline)

    def feed(self, document: Any) -> bytes:
        """The client bytes one node event implies."""
        return self._encode(self._decoder.feed(document))

    def end(self) -> bytes:
        """The client bytes that close the stream (the node's `[DONE]` or its end)."""
        return self._encode(self._decoder.end())

    def _encode(self, events: list[ChatEvent]) -> bytes:
        out = bytearray()
        for event in events:
            if self.error is not None and not self._errors_inline:
                break  # the stream ended at the node's error
            if isinstance(event, UsageReport):
                self.usage = event.usage
            elif isinstance(event, StreamError):
                self.error = event.error
                if not self._errors_inline:
                    break
            out += self._encoder.encode(event)
        return bytes(out)


def translate_embedding_request(
    source: ChatMapping, target: ChatMapping, wire: WireRequest
) -> tuple[EmbeddingRequest, WireRequest]:
    request = source.decode_embedding_request(wire)
    return request, target.encode_embedding_request(request)


def translate_embedding_response(
    source: ChatMapping, target: ChatMapping, document: Any, request: EmbeddingRequest
) -> tuple[EmbeddingResponse, bytes]:
    response = target.decode_embedding_response(document, request.model)
    return response, source.encode_embedding_response(response, request)
