"""OpenAI answers <-> the IR: chat completions, usage, finish reasons, errors, embeddings.

Usage: OpenAI's `completion_tokens` INCLUDES `completion_tokens_details.reasoning_tokens`;
the IR keeps them disjoint (text only in `completion`), as `router.dialects.usage` does.
Errors: a node's body may be OpenAI's `{"error": {"message", "type", "code"}}` or the
seeds' `{"success": false, "error": {"code", "message"}}`; the router's own shape
(`router.dialects.openai.replies.router_error_body`) is what clients get.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    WireRequest,
)
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
    FinishReason,
    TokenUsage,
    kind_of_status,
)
from router.dialects.chat_wire import (
    answer_errors,
    as_array,
    as_object,
    count,
    opt_int,
    opt_str,
)
from router.dialects.openai.replies import error_document
from router.dialects.openai.translate_content import (
    decode_call,
    encode_assistant,
)
from router.errors import InvalidRequest, UnsupportedField

FINISH_OF_OPENAI: dict[str, FinishReason] = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
OPENAI_OF_FINISH: dict[FinishReason, str] = {
    FinishReason.STOP: "stop",
    FinishReason.LENGTH: "length",
    FinishReason.TOOL_CALLS: "tool_calls",
    FinishReason.CONTENT_FILTER: "content_filter",
    FinishReason.STOP_SEQUENCE: "stop",
    FinishReason.ERROR: "stop",
    FinishReason.OTHER: "stop",
}


def decode_finish(choice: Mapping[str, Any]) -> tuple[FinishReason | None, str | None]:
    """A choice's finish reason, and the stop sequence when the node names it (vLLM's
    `stop_reason`)."""
    name = choice.get("finish_reason")
    if not isinstance(name, str):
        return None, None
    reason = FINISH_OF_OPENAI.get(name, FinishReason.OTHER)
    sequence = choice.get("stop_reason")
    if reason is FinishReason.STOP and isinstance(sequence, str):
        return FinishReason.STOP_SEQUENCE, sequence
    return reason, None


def decode_usage(value: Any) -> TokenUsage | None:
    """`usage` of an answer or chunk, or None when absent."""
    if not isinstance(value, Mapping):
        return None
    completion = count(value, "completion_tokens")
    details = value.get("completion_tokens_details")
    reasoning = min(count(details, "reasoning_tokens"), completion)
    prompt_details = value.get("prompt_tokens_details")
    return TokenUsage(
        prompt=count(value, "prompt_tokens"),
        completion=completion - reasoning,
        reasoning=reasoning,
        cached_prompt=count(prompt_details, "cached_tokens"),
        cache_creation=count(prompt_details, "cache_creation_tokens"),
    )


def encode_usage(usage: TokenUsage) -> dict[str, Any]:
    completion = usage.completion + usage.reasoning
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt,
        "completion_tokens": completion,
        "total_tokens": usage.prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }
    return out


def decode_response(document: Any, context: AnswerContext) -> ChatResponse:
    """A whole chat completion as an IR answer."""
    with answer_errors():
        body = as_object(document, "answer")
        choices = as_array(body.get("choices", []), "choices")
        return ChatResponse(
            id=opt_str(body, "id", "") or context.id,
            model=opt_str(body, "model", "") or context.model,
            created=opt_int(body, "created", "") or context.created,
            choices=tuple(_decode_choice(c, i) for i, c in enumerate(choices)),
            usage=decode_usage(body.get("usage")),
        )


def _decode_choice(value: Any, position: int) -> Choice:
    path = f"choices[{position}]"
    choice = as_object(value, path)
    message = as_object(choice.get("message") or {}, f"{path}.message")
    parts: list[Part] = []
    reasoning = opt_str(message, "reasoning_content", path) or opt_str(message, "reasoning", path)
    if reasoning:
        parts.append(ReasoningPart(reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(TextPart(content))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(TextPart(refusal))
    calls = as_array(message.get("tool_calls") or [], f"{path}.message.tool_calls")
    parts.extend(decode_call(c, f"{path}.message.tool_calls[{i}]") for i, c in enumerate(calls))
    reason, sequence = decode_finish(choice)
    index = choice.get("index")
    return Choice(
        index=index if isinstance(index, int) and not isinstance(index, bool) else position,
        message=Message(Role.ASSISTANT, tuple(parts)),
        finish_reason=reason,
        stop_sequence=sequence,
    )


def encode_response(response: ChatResponse) -> dict[str, Any]:
    """An IR answer as an OpenAI chat completion."""
    body: dict[str, Any] = {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": c.index,
                "message": encode_assistant(c.message),
                "logprobs": None,
                "finish_reason": OPENAI_OF_FINISH.get(c.finish_reason) if c.finish_reason else None,
            }
            for c in response.choices
        ],
    }
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage)
    return body


# ---- errors --------------------------------------------------------------------------

_KIND_OF_TYPE = {
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "authentication_error": ErrorKind.AUTHENTICATION,
    "permission_error": ErrorKind.PERMISSION,
    "not_found_error": ErrorKind.NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMIT,
    "insufficient_quota": ErrorKind.RATE_LIMIT,
    "timeout_error": ErrorKind.TIMEOUT,
    "overloaded_error": ErrorKind.OVERLOADED,
}
TYPE_OF_KIND: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.PERMISSION: "permission_error",
    ErrorKind.NOT_FOUND: "invalid_request_error",
    ErrorKind.REQUEST_TOO_LARGE: "invalid_request_error",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.SERVER: "server_error",
    ErrorKind.OVERLOADED: "server_error",
    ErrorKind.TIMEOUT: "timeout_error",
}
CODE_OF_KIND: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "invalid_request",
    ErrorKind.AUTHENTICATION: "invalid_token",
    ErrorKind.PERMISSION: "permission_denied",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.REQUEST_TOO_LARGE: "request_too_large",
    ErrorKind.RATE_LIMIT: "too_many_requests",
    ErrorKind.SERVER: "api_error",
    ErrorKind.OVERLOADED: "service_unavailable",
    ErrorKind.TIMEOUT: "upstream_timeout",
}


def decode_error(status: int, document: Any) -> ChatError:
    """A node's error answer (any JSON, or none) as an IR error with the node's status."""
    error = document.get("error") if isinstance(document, Mapping) else None
    if isinstance(error, str):
        return ChatError(status, error, kind_of_status(status))
    if not isinstance(error, Mapping):
        return ChatError(status, f"the node answered HTTP {status}", kind_of_status(status))
    message = error.get("message")
    code = error.get("code")
    kind = _KIND_OF_TYPE.get(str(error.get("type")), kind_of_status(status))
    return ChatError(
        status=status,
        message=message if isinstance(message, str) else f"the node answered HTTP {status}",
        kind=kind,
        code=code if isinstance(code, str) else None,
    )


def encode_error(error: ChatError, trace_id: str) -> dict[str, Any]:
    """The router's OpenAI-path error shape (the seeds'), for an IR error."""
    code = CODE_OF_KIND.get(error.kind, "api_error")
    return error_document(code, error.message, TYPE_OF_KIND[error.kind], trace_id)


# ---- embeddings ----------------------------------------------------------------------


def decode_embedding_request(wire: WireRequest) -> EmbeddingRequest:
    """An OpenAI embeddings request as IR (texts only: token arrays cannot be translated)."""
    body = as_object(wire.body, "request body")
    value = body.get("input")
    single = isinstance(value, str)
    values = [value] if single else as_array(value, "input")
    inputs = tuple(text for text in values if isinstance(text, str))
    if not inputs or len(inputs) != len(values):
        raise UnsupportedField("input", "only text (not token arrays) can be translated")
    fmt = opt_str(body, "encoding_format", "") or "float"
    if fmt not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be float or base64")
    return EmbeddingRequest(
        model=opt_str(body, "model", "") or wire.model,
        inputs=inputs,
        dimensions=opt_int(body, "dimensions", "", 1),
        single=single,
        base64=fmt == "base64",
    )


def encode_embedding_request(request: EmbeddingRequest) -> WireRequest:
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    body["encoding_format"] = "float"
    return WireRequest(body=body, model=request.model)


def decode_embedding_response(document: Any, model: str) -> EmbeddingResponse:
    with answer_errors():
        body = as_object(document, "answer")
        rows = sorted(
            (as_object(r, "data[]") for r in as_array(body.get("data"), "data")),
            key=lambda r: r.get("index", 0) if isinstance(r.get("index"), int) else 0,
        )
        vectors = tuple(_vector(row.get("embedding")) for row in rows)
        usage = body.get("usage")
        prompt = count(usage, "prompt_tokens")
        return EmbeddingResponse(
            model=opt_str(body, "model", "") or model,
            vectors=vectors,
            usage=TokenUsage(prompt=prompt) if isinstance(usage, Mapping) else None,
        )


def _vector(value: Any) -> tuple[float, ...]:
    if isinstance(value, str):  # encoding_format base64: little-endian float32s
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise InvalidRequest("'data[].embedding' is not base64") from exc
        if not raw or len(raw) % 4:
            raise InvalidRequest("'data[].embedding' does not hold float32 values")
        return struct.unpack(f"<{len(raw) // 4}f", raw)
    numbers = as_array(value, "data[].embedding")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        raise InvalidRequest("'data[].embedding' must hold numbers")
    return tuple(float(x) for x in numbers)


def encode_embedding_response(
    response: EmbeddingResponse, *, base64_vectors: bool
) -> dict[str, Any]:
    data = []
    for index, vector in enumerate(response.vectors):
        embedding: Any = list(vector)
        if base64_vectors:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    prompt = response.usage.prompt if response.usage else 0
    usage = {"prompt_tokens": prompt, "total_tokens": prompt}
    return {"object": "list", "data": data, "model": response.model, "usage": usage}
