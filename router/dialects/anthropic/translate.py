"""Anthropic's Messages API as a translation mapping: `ANTHROPIC_MAPPING`.

The public API of the Anthropic side of translation. The work is done in
`anthropic/translate_request` (request fields, `REQUEST_FIELDS`, count_tokens requests),
`anthropic/translate_thinking` (thinking settings), `anthropic/translate_content`
(messages and blocks, thought signatures in tool ids), `anthropic/translate_answer`
(answers, usage, stop reasons, token counts), `anthropic/translate_errors` (errors, the
ping and error events) and `anthropic/translate_stream` (streams); `anthropic/models`
renders the model endpoints. This module binds them to the `ChatMapping` shape the
driver (`router.dialects.translation`) takes, and names what the wiring uses beside it.

Anthropic has no embeddings: an embeddings request for an Anthropic node is a 400.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.dialects.anthropic.models import model_info, model_page
from router.dialects.anthropic.translate_answer import (
    decode_response,
    decode_token_count,
    encode_response,
    encode_token_count,
)
from router.dialects.anthropic.translate_errors import (
    PING_EVENT,
    client_status,
    decode_error,
    encode_error,
    error_event,
    router_error_body,
)
from router.dialects.anthropic.translate_request import (
    FIELD_OF_FEATURE,
    REQUEST_FIELDS,
    decode_count_tokens_request,
    decode_request,
    encode_request,
)
from router.dialects.anthropic.translate_stream import (
    AnthropicStreamDecoder,
    AnthropicStreamEncoder,
)
from router.dialects.chat import ChatRequest, WireRequest
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from router.errors import UnsupportedField, UntranslatableAnswer

__all__ = [
    "ANTHROPIC_MAPPING",
    "PING_EVENT",
    "AnthropicMapping",
    "client_status",
    "decode_count_tokens_request",
    "decode_token_count",
    "encode_token_count",
    "error_event",
    "model_info",
    "model_page",
    "router_error_body",
]
_NO_EMBEDDINGS = "Anthropic's API has no embeddings"


class AnthropicMapping:
    """Anthropic Messages <-> IR."""

    name = "anthropic"
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

    def stream_decoder(self, context: AnswerContext) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(context)

    def stream_encoder(
        self, *, include_usage: bool, json_array: bool = False, trace_id: str = ""
    ) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(trace_id=trace_id)  # Anthropic always reports usage

    def decode_error(self, status: int, document: Any) -> ChatError:
        return decode_error(status, document)

    def encode_error(self, error: ChatError, trace_id: str) -> bytes:
        return orjson.dumps(encode_error(error, trace_id))

    def decode_embedding_request(self, wire: WireRequest) -> EmbeddingRequest:
        raise UnsupportedField("input", _NO_EMBEDDINGS)

    def encode_embedding_request(self, request: EmbeddingRequest) -> WireRequest:
        raise UnsupportedField("input", _NO_EMBEDDINGS)

    def decode_embedding_response(self, document: Any, model: str) -> EmbeddingResponse:
        raise UntranslatableAnswer(_NO_EMBEDDINGS)

    def encode_embedding_response(
        self, response: EmbeddingResponse, request: EmbeddingRequest
    ) -> bytes:
        raise UntranslatableAnswer(_NO_EMBEDDINGS)

    def encode_token_count(self, tokens: int) -> bytes | None:
        return orjson.dumps(encode_token_count(tokens))  # count_tokens' answer


ANTHROPIC_MAPPING = AnthropicMapping()
