"""Gemini generateContent as a translation mapping: `GEMINI_MAPPING`.

The public API of the Gemini side of translation. The work is done in
`gemini/translate_request` (request fields, `REQUEST_FIELDS`, thinking settings),
`gemini/translate_content` (contents and parts), `gemini/schema` (JSON Schema and
Gemini's subset), `gemini/translate_answer` (answers, errors, embeddings) and
`gemini/translate_stream` (streams, SSE or a JSON array); this module binds them to the
`ChatMapping` shape the driver (`router.dialects.translation`) takes.
"""

from __future__ import annotations

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
from router.dialects.mapping import WireMapping

GEMINI_MAPPING = WireMapping(
    name="gemini",
    request_fields=REQUEST_FIELDS,
    field_of_feature=FIELD_OF_FEATURE,
    decode_request=decode_request,
    encode_request=encode_request,
    decode_response=decode_response,
    response_document=encode_response,
    stream_decoder=GeminiStreamDecoder,
    new_stream_encoder=lambda _include_usage, json_array, trace_id: GeminiStreamEncoder(
        json_array=json_array, trace_id=trace_id
    ),
    decode_error=decode_error,
    error_document=encode_error,
    decode_embedding_request=decode_embedding_request,
    encode_embedding_request=encode_embedding_request,
    decode_embedding_response=decode_embedding_response,
    embedding_response_document=lambda response, request: encode_embedding_response(
        response, single=request.single
    ),
    token_count_document=lambda tokens: {"totalTokens": tokens},  # countTokens' answer
)
