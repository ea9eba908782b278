"""Gemini answers <-> the IR: candidates, usage, finish reasons, errors, embeddings.

Usage: `candidatesTokenCount` does NOT include `thoughtsTokenCount` (the IR's disjoint
counts as they are); `toolUsePromptTokenCount` is prompt (as `router.dialects.usage`
counts it). A function call without an `id` gets `call_{answer id}_{n}`, `n` counting
the answer's calls from 0, so the same answer always gets the same ids. Gemini says
`STOP` after function calls; the IR says `TOOL_CALLS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    Message,
    Part,
    Role,
    ToolCallPart,
    WireRequest,
)
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingTask,
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
    lookup,
    opt_int,
    opt_object,
    opt_str,
)
from router.dialects.gemini.replies import google_error
from router.dialects.gemini.translate_content import CallBook, decode_part, encode_part
from router.errors import InvalidRequest

_FILTERED: tuple[str, ...] = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT")
_FILTERED += ("SPII", "LANGUAGE", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")
FINISH_OF_GEMINI: dict[str, FinishReason] = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
    "TOO_MANY_TOOL_CALLS": FinishReason.ERROR,
    **{name: FinishReason.CONTENT_FILTER for name in _FILTERED},
}
GEMINI_OF_FINISH: dict[FinishReason, str] = {
    FinishReason.STOP: "STOP",
    FinishReason.LENGTH: "MAX_TOKENS",
    FinishReason.TOOL_CALLS: "STOP",
    FinishReason.CONTENT_FILTER: "SAFETY",
    FinishReason.STOP_SEQUENCE: "STOP",
    FinishReason.ERROR: "MALFORMED_FUNCTION_CALL",
    FinishReason.OTHER: "OTHER",
}


def decode_finish(name: Any, has_calls: bool) -> FinishReason | None:
    if not isinstance(name, str) or not name:
        return None
    reason = FINISH_OF_GEMINI.get(name, FinishReason.OTHER)
    return FinishReason.TOOL_CALLS if reason is FinishReason.STOP and has_calls else reason


def call_id(answer_id: str, n: int) -> str:
    """The id of an answer's n-th function call that came without one."""
    return f"call_{answer_id}_{n}"


def decode_usage(value: Any) -> TokenUsage | None:
    if not isinstance(value, Mapping):
        return None
    return TokenUsage(
        prompt=count(value, "promptTokenCount") + count(value, "toolUsePromptTokenCount"),
        completion=count(value, "candidatesTokenCount"),
        reasoning=count(value, "thoughtsTokenCount"),
        cached_prompt=count(value, "cachedContentTokenCount"),
    )


def encode_usage(usage: TokenUsage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": usage.prompt,
        "candidatesTokenCount": usage.completion,
        "totalTokenCount": usage.prompt + usage.completion + usage.reasoning,
    }
    if usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    if usage.cached_prompt:
        out["cachedContentTokenCount"] = usage.cached_prompt
    return out


def answer_head(document: Mapping[str, Any], context: AnswerContext) -> tuple[str, str]:
    """The answer's id and model (`responseId`, `modelVersion`), or the router's."""
    ident, model = lookup(document, "responseId"), lookup(document, "modelVersion")
    return (
        ident if isinstance(ident, str) and ident else context.id,
        model if isinstance(model, str) and model else context.model,
    )


def decode_response(document: Any, context: AnswerContext) -> ChatResponse:
    """A whole generateContent answer as an IR answer."""
    with answer_errors():
        body = as_object(document, "answer")
        ident, model = answer_head(body, context)
        calls = 0
        choices = []
        for i, value in enumerate(as_array(body.get("candidates") or [], "candidates")):
            choice, calls = _decode_candidate(as_object(value, f"candidates[{i}]"), i, ident, calls)
            choices.append(choice)
        feedback = opt_object(body, "promptFeedback", "")
        if not choices and feedback and lookup(feedback, "blockReason"):
            empty = Message(Role.ASSISTANT, ())
            choices.append(Choice(0, empty, FinishReason.CONTENT_FILTER))
        return ChatResponse(
            id=ident,
            model=model,
            created=context.created,
            choices=tuple(choices),
            usage=decode_usage(lookup(body, "usageMetadata")),
        )


def _decode_candidate(
    candidate: Mapping[str, Any], position: int, answer_id: str, calls: int
) -> tuple[Choice, int]:
    index = opt_int(candidate, "index", "candidates[]") or position
    content = opt_object(candidate, "content", f"candidates[{position}]") or {}
    parts: list[Part] = []
    for j, value in enumerate(as_array(lookup(content, "parts") or [], "content.parts")):
        part = decode_part(as_object(value, f"parts[{j}]"), f"parts[{j}]", CallBook())
        if isinstance(part, ToolCallPart) and not _has_id(value):
            part = ToolCallPart(
                call_id(answer_id, calls), part.name, part.arguments, part.signature
            )
        calls += isinstance(part, ToolCallPart)
        if part is not None:
            parts.append(part)
    has_calls = any(isinstance(p, ToolCallPart) for p in parts)
    reason = decode_finish(lookup(candidate, "finishReason"), has_calls)
    return Choice(index, Message(Role.ASSISTANT, tuple(parts)), reason), calls


def _has_id(part: Any) -> bool:
    call = lookup(part, "functionCall") if isinstance(part, Mapping) else None
    return isinstance(call, Mapping) and isinstance(call.get("id"), str) and bool(call["id"])


def encode_candidate_parts(message: Message) -> list[dict[str, Any]]:
    """An answer's parts for a Gemini client; function calls keep their ids, which
    google-genai echoes in its function responses."""
    parts = []
    for part in message.parts:
        encoded = encode_part(part, lenient=True)
        if encoded is None:
            continue
        if isinstance(part, ToolCallPart):
            encoded["functionCall"]["id"] = part.id
        parts.append(encoded)
    return parts


def encode_response(response: ChatResponse) -> dict[str, Any]:
    candidates = []
    for choice in response.choices:
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": encode_candidate_parts(choice.message)},
            "index": choice.index,
        }
        if choice.finish_reason is not None:
            candidate["finishReason"] = GEMINI_OF_FINISH[choice.finish_reason]
        candidates.append(candidate)
    body: dict[str, Any] = {"candidates": candidates}
    if response.usage is not None:
        body["usageMetadata"] = encode_usage(response.usage)
    body["modelVersion"] = response.model
    body["responseId"] = response.id
    return body


# ---- errors --------------------------------------------------------------------------

_KIND_OF_GOOGLE = {
    "INVALID_ARGUMENT": ErrorKind.INVALID_REQUEST,
    "FAILED_PRECONDITION": ErrorKind.INVALID_REQUEST,
    "UNAUTHENTICATED": ErrorKind.AUTHENTICATION,
    "PERMISSION_DENIED": ErrorKind.PERMISSION,
    "NOT_FOUND": ErrorKind.NOT_FOUND,
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMIT,
    "UNAVAILABLE": ErrorKind.OVERLOADED,
    "DEADLINE_EXCEEDED": ErrorKind.TIMEOUT,
    "INTERNAL": ErrorKind.SERVER,
}


def decode_error(status: int, document: Any) -> ChatError:
    """A node's Google-shaped error (also inside a one-element list) as an IR error."""
    if isinstance(document, list) and document:
        document = document[0]
    error = document.get("error") if isinstance(document, Mapping) else None
    if not isinstance(error, Mapping):
        return ChatError(status, f"the node answered HTTP {status}", kind_of_status(status))
    message = error.get("message")
    name = error.get("status")
    kind = _KIND_OF_GOOGLE.get(name) if isinstance(name, str) else None
    return ChatError(
        status=status,
        message=message if isinstance(message, str) else f"the node answered HTTP {status}",
        kind=kind or kind_of_status(status),
    )


def encode_error(error: ChatError, trace_id: str) -> dict[str, Any]:
    """Google's error shape, as the router writes it on Gemini paths (one rule: replies)."""
    return google_error(error.status, error.message, trace_id)


# ---- embeddings ----------------------------------------------------------------------

_TASKS = {t.value: t for t in EmbeddingTask}


def decode_embedding_request(wire: WireRequest) -> EmbeddingRequest:
    """embedContent (or, with `wire.batch`, batchEmbedContents) as IR."""
    body = as_object(wire.body, "request body")
    if wire.batch:
        items = [
            as_object(r, f"requests[{i}]")
            for i, r in enumerate(as_array(body.get("requests"), "requests"))
        ]
        if not items:
            raise InvalidRequest("'requests' must not be empty")
    else:
        items = [body]
    texts, tasks, sizes = [], set(), set()
    for i, item in enumerate(items):
        path = f"requests[{i}]" if wire.batch else ""
        content = as_object(item.get("content"), f"{path}.content".lstrip("."))
        parts = as_array(content.get("parts"), f"{path}.content.parts".lstrip("."))
        texts.append(
            "".join(
                p["text"]
                for p in parts
                if isinstance(p, Mapping) and isinstance(p.get("text"), str)
            )
        )
        tasks.add(opt_str(item, "taskType", path))
        sizes.add(opt_int(item, "outputDimensionality", path, 1))
    if len(tasks) > 1 or len(sizes) > 1:
        raise InvalidRequest(
            "every request of a batch must have the same taskType and outputDimensionality"
        )
    task_name = tasks.pop()
    task = _TASKS.get(task_name) if task_name else None
    if task_name and task is None:
        raise InvalidRequest(f"'taskType' {task_name!r} is unknown")
    return EmbeddingRequest(wire.model, tuple(texts), sizes.pop(), task, single=not wire.batch)


def encode_embedding_request(request: EmbeddingRequest) -> WireRequest:
    """batchEmbedContents for a node (one request per input)."""
    requests = []
    for text in request.inputs:
        item: dict[str, Any] = {
            "model": f"models/{request.model}",
            "content": {"parts": [{"text": text}]},
        }
        if request.task is not None:
            item["taskType"] = request.task.value
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        requests.append(item)
    return WireRequest(body={"requests": requests}, model=request.model, batch=True)


def decode_embedding_response(document: Any, model: str) -> EmbeddingResponse:
    with answer_errors():
        body = as_object(document, "answer")
        if body.get("embedding") is not None:
            rows = [as_object(body["embedding"], "embedding")]
        else:
            rows = [
                as_object(e, "embeddings[]") for e in as_array(body.get("embeddings"), "embeddings")
            ]
        vectors = []
        for row in rows:
            values = as_array(row.get("values"), "values")
            if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
                raise InvalidRequest("'values' must hold numbers")
            vectors.append(tuple(float(x) for x in values))
        usage = decode_usage(lookup(body, "usageMetadata"))
        return EmbeddingResponse(model=model, vectors=tuple(vectors), usage=usage)


def encode_embedding_response(response: EmbeddingResponse, *, single: bool) -> dict[str, Any]:
    rows = [{"values": list(v)} for v in response.vectors]
    if single and len(rows) == 1:
        return {"embedding": rows[0]}
    return {"embeddings": rows}
