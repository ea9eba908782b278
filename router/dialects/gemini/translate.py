"""Gemini generateContent as a translation mapping: `GEMINI_MAPPING`.

The public API of the Gemini side of translation. The work is done in
`gemini/translate_request` (request fields, `REQUEST_FIELDS`, thinking settings),
`gemini/translate_content` (contents and parts), `gemini/schema` (JSON Schema and
Gemini's subset), `gemini/translate_answer` (answers, errors, embeddings) and
`gemini/translate_stream` (streams, SSE or a JSON array); this module binds them to the
`ChatMapping` shape the driver (`router.dialects.translation`) takes.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.dialects.chat import ChatRequest, WireRequest
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from router.dialects.gemini.translate_answer import (
    decode_embedding_request,
    decode_embedding_response,
    decode_error,
    decode_response,
    encode_embedding_request,
    encode_embedding_response,
    encode_error,
    encode_response,
)
from router.dialects.gemini.translate_request import (
    FIELD_OF_FEATURE,
    REQUEST_FIELDS,
    decode_request,
    encode_request,
)
from router.dialects.gemini.translate_stream import GeminiStreamDecoder, GeminiStreamEncoder


class GeminiMapping:
    """Gemini generateContent <-> IR."""

    name = "gemini"
    request_fields = REQUEST_FIELDS
    field_of_feature = FIELD_OF_FEATURE

    def decode_request(self, wire: WireRequest) -> ChatRequest:
        return decode_request(wire)

    def encode_request(self, request: ChatRequest) -> WireRequest:
        return encode_request(request)

    def decode_response(self, document: Any, context: AnswerContext) -> ChatResponse:
        return decode_response(document, context)

    def encode_response(self, response: ChatResponse) -> bytes:
        return orjson.dumps(encode_response(response))

    def stream_decoder(self, context: AnswerContext) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(context)

    def stream_encoder(
        self, *, include_usage: bool, json_array: bool = False, trace_id: str = ""
    ) -> GeminiStreamEncoder:
        return GeminiStreamEncoder(json_array=json_array, trace_id=trace_id)

    def decode_error(self, status: int, document: Any) -> ChatError:
        return decode_error(status, document)

    def encode_error(self, error: ChatError, trace_id: str) -> bytes:
        return orjson.dumps(encode_error(error, trace_id))

    def decode_embedding_request(self, wire: WireRequest) -> EmbeddingRequest:
        return decode_embedding_request(wire)

    def encode_embedding_request(self, request: EmbeddingRequest) -> WireRequest:
        return encode_embedding_request(request)

    def decode_embedding_response(self, document: Any, model: str) -> EmbeddingResponse:
        return decode_embedding_response(document, model)

    def encode_embedding_response(
        self, response: EmbeddingResponse, request: EmbeddingRequest
    ) -> bytes:
        return orjson.dumps(encode_embedding_response(response, single=request.single))

    def encode_token_count(self, tokens: int) -> bytes | None:
        return orjson.dumps({"totalTokens": tokens})  # countTokens' answer


GEMINI_MAPPING = GeminiMapping()
