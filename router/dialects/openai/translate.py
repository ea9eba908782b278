"""OpenAI Chat Completions as a translation mapping: `OPENAI_MAPPING`.

The public API of the OpenAI side of translation. The work is done in
`openai/translate_request` (request fields, `REQUEST_FIELDS`), `openai/translate_content`
(messages), `openai/translate_answer` (answers, errors, embeddings) and
`openai/translate_stream` (streams); this module binds them to the `ChatMapping` shape
the driver (`router.dialects.translation`) takes.
"""

from __future__ import annotations

from router.dialects.mapping import WireMapping
from router.dialects.openai.translate_answer import (
    decode_embedding_request,
    decode_embedding_response,
    decode_error,
    decode_response,
    encode_embedding_request,
    encode_embedding_response,
    encode_error,
    encode_response,
)
from router.dialects.openai.translate_request import (
    FIELD_OF_FEATURE,
    REQUEST_FIELDS,
    decode_request,
    encode_request,
)
from router.dialects.openai.translate_stream import OpenAIStreamDecoder, OpenAIStreamEncoder

OPENAI_MAPPING = WireMapping(
    name="openai",
    request_fields=REQUEST_FIELDS,
    field_of_feature=FIELD_OF_FEATURE,
    decode_request=decode_request,
    encode_request=encode_request,
    decode_response=decode_response,
    response_document=encode_response,
    stream_decoder=OpenAIStreamDecoder,
    new_stream_encoder=lambda include_usage, _json_array, trace_id: OpenAIStreamEncoder(
        include_usage=include_usage, trace_id=trace_id
    ),
    decode_error=decode_error,
    error_document=encode_error,
    decode_embedding_request=decode_embedding_request,
    encode_embedding_request=encode_embedding_request,
    decode_embedding_response=decode_embedding_response,
    embedding_response_document=lambda response, request: encode_embedding_response(
        response, base64_vectors=request.base64
    ),
    token_count_document=None,  # OpenAI's API counts no tokens
)
