"""The mock node's other OpenAI APIs: embeddings, (legacy) completions and responses.

Built without I/O, like `router.mock.answers`, with the same deterministic counts: input
tokens = characters of the text // 4 + 1, answer tokens = 4 per content part, and for the
Responses API 16 reasoning tokens inside `output_tokens` (as real reasoning models count
them). Embeddings have 8 dimensions and honour `encoding_format: base64` (what the
openai SDKs ask for by default).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from router.mock.answers import REASONING_TOKENS, Answer

EMBEDDING_DIMENSIONS = 8


def _text(value: object) -> str:
    """All the text in a prompt / input: a string, a list of strings, or Responses items."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text(item) for item in value)
    if isinstance(value, dict):
        text = value.get("text")
        return text if isinstance(text, str) else _text(value.get("content"))
    return ""


def input_tokens(value: object) -> int:
    """The mock's token count of a prompt or input."""
    return len(_text(value)) // 4 + 1


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    return model if isinstance(model, str) else "mock"


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """The `POST /v1/embeddings` answer: one vector per input, prompt tokens only."""
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) and not all(isinstance(x, int) for x in raw) else [raw]
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = _vector(item, index)
        packed: object = vector
        if as_base64:
            packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": packed})
    tokens = input_tokens(raw)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": _model(body), "usage": usage}


def _vector(item: object, index: int) -> list[float]:
    seed = len(_text(item)) + index
    return [((seed + d) % 7) / 7 for d in range(EMBEDDING_DIMENSIONS)]


def gemini_embeddings(body: dict[str, Any], *, batch: bool) -> dict[str, Any]:
    """Gemini's `embedContent` (one vector) or `batchEmbedContents` (one per request)
    answer, the same vectors as `embeddings` gives the same texts."""
    if not batch:
        return {"embedding": {"values": _vector(_parts_text(body.get("content")), 0)}}
    requests = body.get("requests")
    texts = [_parts_text(r.get("content")) for r in requests or [] if isinstance(r, dict)]
    return {"embeddings": [{"values": _vector(t, i)} for i, t in enumerate(texts)]}


def _parts_text(content: object) -> str:
    return _text(content.get("parts")) if isinstance(content, dict) else ""


def _completion_usage(body: dict[str, Any], answer: Answer) -> dict[str, int]:
    prompt = input_tokens(body.get("prompt"))
    completion = answer.content_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(body: dict[str, Any], answer: Answer, cid: str, created: int) -> dict[str, Any]:
    """The non-streaming `POST /v1/completions` answer."""
    choice = {"text": answer.content, "index": 0, "logprobs": None, "finish_reason": "stop"}
    return {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": _model(body),
        "choices": [choice],
        "usage": _completion_usage(body, answer),
    }


def completion_stream(
    body: dict[str, Any], answer: Answer, cid: str, created: int, *, usage_always: bool
) -> list[bytes]:
    """The SSE frames of a streaming completion: text chunks, usage when asked, `[DONE]`."""

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        chunk = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": _model(body),
            "choices": choices,
            "usage": usage,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def choice(text: str, finish: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    last = len(answer.content_parts) - 1
    frames = [
        event([choice(t, "stop" if i == last else None)])
        for i, t in enumerate(answer.content_parts)
    ]
    options = body.get("stream_options")
    if (isinstance(options, dict) and options.get("include_usage") is True) or usage_always:
        frames.append(event([], _completion_usage(body, answer)))
    frames.append(b"data: [DONE]\n\n")
    return frames


def _response(
    body: dict[str, Any], answer: Answer, rid: str, created: int, *, done: bool
) -> dict[str, Any]:
    """A Responses API `response` object, finished (with usage) or just begun."""
    prompt = input_tokens(body.get("input"))
    output = answer.content_tokens + REASONING_TOKENS
    message = {
        "type": "message",
        "id": f"msg_{rid}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": answer.content, "annotations": []}],
    }
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": prompt + output,
    }
    return {
        "id": f"resp_{rid}",
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": _model(body),
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage if done else None,
    }


def response(body: dict[str, Any], answer: Answer, rid: str, created: int) -> dict[str, Any]:
    """The non-streaming `POST /v1/responses` answer."""
    return _response(body, answer, rid, created, done=True)


def response_stream(body: dict[str, Any], answer: Answer, rid: str, created: int) -> list[bytes]:
    """The typed SSE events of a streaming response, ending with `response.completed`."""
    events: list[dict[str, Any]] = []
    begun = _response(body, answer, rid, created, done=False)
    finished = _response(body, answer, rid, created, done=True)
    item = dict(finished["output"][0], status="in_progress", content=[])
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    events.append({"type": "response.created", "response": begun})
    events.append({"type": "response.in_progress", "response": begun})
    events.append({"type": "response.output_item.added", "output_index": 0, "item": item})
    events.append({"type": "response.content_part.added", **where, "part": part})
    for text in answer.content_parts:
        events.append({"type": "response.output_text.delta", **where, "delta": text})
    events.append({"type": "response.output_text.done", **where, "text": answer.content})
    done_part = {**part, "text": answer.content}
    events.append({"type": "response.content_part.done", **where, "part": done_part})
    events.append(
        {"type": "response.output_item.done", "output_index": 0, "item": finished["output"][0]}
    )
    events.append({"type": "response.completed", "response": finished})
    frames = []
    for number, event in enumerate(events):
        event["sequence_number"] = number
        frames.append(
            b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
        )
    return frames
