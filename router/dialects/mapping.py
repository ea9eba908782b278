"""A dialect's translation functions as one object (`WireMapping`), and the stream
reader and writer shapes it makes: what each dialect's `translate` module fills in and
the translation driver (router.dialects.translation) takes as a `ChatMapping`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from router.dialects.chat import ChatRequest, WireRequest
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatEvent,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from router.dialects.chat_wire import Feature, FieldRule


class StreamDecoder(Protocol):
    def feed(self, document: Any) -> list[ChatEvent]: ...
    def end(self) -> list[ChatEvent]: ...


class StreamEncoder(Protocol):
    def encode(self, event: ChatEvent) -> bytes: ...


@dataclass(frozen=True, slots=True)
class WireMapping:
    """A `ChatMapping` made of one dialect's functions: each dialect's `translate` module
    names its own (the `*_document` ones return JSON-ready values; orjson renders them
    here, once for every dialect)."""

    name: str
    request_fields: tuple[FieldRule, ...]
    field_of_feature: Mapping[Feature, str]
    decode_request: Callable[[WireRequest], ChatRequest]
    encode_request: Callable[[ChatRequest], WireRequest]
    decode_response: Callable[[Any, AnswerContext], ChatResponse]
    response_document: Callable[[ChatResponse], Any]
    stream_decoder: Callable[[AnswerContext], StreamDecoder]
    # (include_usage, json_array, trace_id) -> the dialect's encoder
    new_stream_encoder: Callable[[bool, bool, str], StreamEncoder]
    decode_error: Callable[[int, Any], ChatError]
    error_document: Callable[[ChatError, str], Any]
    decode_embedding_request: Callable[[WireRequest], EmbeddingRequest]
    encode_embedding_request: Callable[[EmbeddingRequest], WireRequest]
    decode_embedding_response: Callable[[Any, str], EmbeddingResponse]
    embedding_response_document: Callable[[EmbeddingResponse, EmbeddingRequest], Any]
    token_count_document: Callable[[int], Any] | None  # None: the dialect counts no tokens

    def encode_response(self, response: ChatResponse) -> bytes:
        return orjson.dumps(self.response_document(response))

    def stream_encoder(
        self, *, include_usage: bool, json_array: bool = False, trace_id: str = ""
    ) -> StreamEncoder:
        return self.new_stream_encoder(include_usage, json_array, trace_id)

    def encode_error(self, error: ChatError, trace_id: str) -> bytes:
        return orjson.dumps(self.error_document(error, trace_id))

    def encode_embedding_response(
        self, response: EmbeddingResponse, request: EmbeddingRequest
    ) -> bytes:
        return orjson.dumps(self.embedding_response_document(response, request))

    def encode_token_count(self, tokens: int) -> bytes | None:
        document = self.token_count_document
        return None if document is None else orjson.dumps(document(tokens))
