"""What the mock node answers on Anthropic's Messages API, built without I/O.

The same deterministic answer as on the other paths (router.mock.answers): `--chunks`
text deltas, and the reasoning as a `thinking` block (with a signature) when the request
turns thinking on. Usage as Anthropic counts it: `input_tokens` from the request's text,
`output_tokens` the text's tokens plus the thinking's (with
`output_tokens_details.thinking_tokens`). A stream is Anthropic's named events:
`message_start`, a `ping`, each block's start, deltas and stop, `message_delta` with the
stop reason and the cumulative usage, `message_stop`.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.mock.answers import Answer, text_chars

SIGNATURE = "mock-signature"
MODELS_CREATED = "2025-01-01T00:00:00Z"


def message_id(hex_id: str) -> str:
    return f"msg_{hex_id[:24]}"


def thinks(body: dict[str, Any]) -> bool:
    """Whether the request turns thinking on (`enabled` with a budget, or `adaptive`)."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def input_tokens(body: dict[str, Any]) -> int:
    """The prompt count of a Messages body: its messages' and system's text."""
    chars = 0
    system = body.get("system")
    chars += text_chars(system) if isinstance(system, str | list) else 0
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            chars += text_chars(message.get("content"))
    return chars // 4 + 1


def prefill_of(body: dict[str, Any]) -> tuple[str, str] | None:
    """(content, "") of a request whose last turn is the assistant's (a prefill)."""
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    content = last.get("content")
    return (content if isinstance(content, str) else _texts(content)), ""


def _texts(content: object) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(
        b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def usage(body: dict[str, Any], answer: Answer, thinking: bool) -> dict[str, Any]:
    """The `usage` of a finished answer."""
    thought = answer.reasoning_tokens if thinking else 0
    found: dict[str, Any] = {
        "input_tokens": input_tokens(body),
        "output_tokens": answer.content_tokens + thought,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    if thought:
        found["output_tokens_details"] = {"thinking_tokens": thought}
    return found


def message(
    body: dict[str, Any],
    answer: Answer,
    ident: str,
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """The non-streaming answer (`content`: blocks other than the node's text answer)."""
    thinking = thinks(body) and bool(answer.reasoning)
    blocks: list[dict[str, Any]] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": answer.reasoning, "signature": SIGNATURE})
    blocks += content if content is not None else [{"type": "text", "text": answer.content}]
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(body, answer, thinking),
    }


def event(document: dict[str, Any]) -> bytes:
    """One named SSE event, as Anthropic frames them."""
    name = str(document["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(document) + b"\n\n"


def stream(
    body: dict[str, Any],
    answer: Answer,
    ident: str,
    blocks: list[list[bytes]] | None = None,
    stop_reason: str = "end_turn",
) -> list[bytes]:
    """The events of a streamed answer (`blocks`: each block's events after the thinking,
    in place of the text block)."""
    thinking = thinks(body) and bool(answer.reasoning)
    start = message(body, answer, ident)
    start["content"], start["stop_reason"] = [], None
    start["usage"] = {**start["usage"], "output_tokens": 0}
    start["usage"].pop("output_tokens_details", None)
    frames = [event({"type": "message_start", "message": start}), event({"type": "ping"})]
    index = 0
    if thinking:
        frames += _block(
            index,
            {"type": "thinking", "thinking": "", "signature": ""},
            [{"type": "thinking_delta", "thinking": part} for part in answer.reasoning_parts]
            + [{"type": "signature_delta", "signature": SIGNATURE}],
        )
        index += 1
    if blocks is None:
        deltas = [{"type": "text_delta", "text": part} for part in answer.content_parts]
        blocks = [_block(index, {"type": "text", "text": ""}, deltas)]
    for block in blocks:
        frames += block
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    final = usage(body, answer, thinking)
    frames.append(event({"type": "message_delta", "delta": delta, "usage": final}))
    frames.append(event({"type": "message_stop"}))
    return frames


def _block(index: int, opening: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
    frames = [event({"type": "content_block_start", "index": index, "content_block": opening})]
    frames += [event({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    frames.append(event({"type": "content_block_stop", "index": index}))
    return frames


def tool_use_block(index: int, call_id: str, name: str, arguments: dict[str, Any]) -> list[bytes]:
    """A streamed tool_use block: its input in two `input_json_delta` pieces."""
    text = orjson.dumps(arguments).decode()
    half = len(text) // 2
    opening = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    deltas = [
        {"type": "input_json_delta", "partial_json": piece} for piece in (text[:half], text[half:])
    ]
    return _block(index, opening, deltas)


def invalid_body(body: dict[str, Any], counting: bool) -> str | None:
    """Why a Messages body cannot be answered, or None (as Anthropic words it)."""
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    if not counting and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    return None


def model_list(models: tuple[str, ...]) -> dict[str, Any]:
    """`GET /v1/models` as Anthropic answers it."""
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": MODELS_CREATED} for m in models
    ]
    return {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}


def error_body(kind: str, message: str) -> dict[str, Any]:
    """Anthropic's error shape."""
    return {"type": "error", "error": {"type": kind, "message": message}}


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
