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
from router.dialects.mapping import WireMapping
from router.errors import UnsupportedField, UntranslatableAnswer

__all__ = [
    "ANTHROPIC_MAPPING",
    "PING_EVENT",
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


def _no_embedding_request(_given: object) -> Any:
    raise UnsupportedField("input", _NO_EMBEDDINGS)


def _no_embedding_response(*_given: object) -> Any:
    raise UntranslatableAnswer(_NO_EMBEDDINGS)


ANTHROPIC_MAPPING = WireMapping(
    name="anthropic",
    request_fields=REQUEST_FIELDS,
    field_of_feature=FIELD_OF_FEATURE,
    decode_request=decode_request,
    encode_request=encode_request,
    decode_response=decode_response,
    response_document=encode_response,
    stream_decoder=AnthropicStreamDecoder,
    # Anthropic always reports usage, and has one stream framing.
    new_stream_encoder=lambda _usage, _json_array, trace_id: AnthropicStreamEncoder(
        trace_id=trace_id
    ),
    decode_error=decode_error,
    error_document=encode_error,
    decode_embedding_request=_no_embedding_request,
    encode_embedding_request=_no_embedding_request,
    decode_embedding_response=_no_embedding_response,
    embedding_response_document=_no_embedding_response,
    token_count_document=encode_token_count,  # count_tokens' answer
)
