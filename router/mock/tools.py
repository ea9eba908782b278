"""The mock node's scripted tool calls, in each dialect it speaks (built without I/O).

The `tool_call` fault (`{"name": ..., "arguments": {...}}`) makes the node act as a model
that uses a tool: a request that offers a tool of that name, and whose last turn carries
no tool result, is answered with one call of it; a request whose last turn carries tool
results is answered with their text ("Tool result: ..."), the way a model reports what
the tool said. Requests that offer no such tool (a client's side requests: titles,
summaries) get the node's usual answer. Without the fault nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.mock.answers import (
    Answer,
    gemini_finish,
    gemini_prompt_tokens,
    openai_prompt_tokens,
    openai_usage,
)

RESULT_PREFIX = "Tool result: "
MAX_QUOTED = 400  # characters of the tool results quoted back
GEMINI_SIGNATURE = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ=="  # a Gemini 3 call carries one


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The call the node makes when offered its tool."""

    name: str
    arguments: dict[str, Any]

    @classmethod
    def parse(cls, value: object) -> ToolCall | None:
        """The fault's value (None: no script); ValueError for a malformed one."""
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise ValueError("tool_call must be {'name': str, 'arguments': {...}} or null")
        arguments = value.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ValueError("tool_call.arguments must be an object")
        return cls(value["name"], arguments)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


def _last(turns: object) -> dict[str, Any] | None:
    last = turns[-1] if isinstance(turns, list) and turns else None
    return last if isinstance(last, dict) else None


def _text(value: object) -> str:
    """Text of a tool result's content: a string, blocks of text, or any JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text(item.get("text")) for item in value if isinstance(item, dict))
    return orjson.dumps(value).decode() if value is not None else ""


def offered(body: dict[str, Any], wire: str) -> set[str]:
    """The names of the tools a request offers."""
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if wire == "openai" and isinstance(tool.get("function"), dict):
            names.add(str(tool["function"].get("name")))
        elif wire == "anthropic":
            names.add(str(tool.get("name")))
        for declared in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
            if isinstance(declared, dict):
                names.add(str(declared.get("name")))
    return names


def results(body: dict[str, Any], wire: str) -> str | None:
    """The text of the tool results the request's last turn carries; None: it has none."""
    if wire == "openai":
        messages = body.get("messages") or []
        found: list[str] = []
        for message in reversed(messages if isinstance(messages, list) else []):
            if not isinstance(message, dict) or message.get("role") != "tool":
                break
            found.insert(0, _text(message.get("content")))
        return "\n".join(found) if found else None
    last = _last(body.get("messages") if wire == "anthropic" else body.get("contents"))
    if last is None:
        return None
    items = last.get("content" if wire == "anthropic" else "parts")
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "tool_result":
            found.append(_text(item.get("content")))
        response = item.get("functionResponse") or item.get("function_response")
        if isinstance(response, dict):
            found.append(_text(response.get("response")))
    return "\n".join(found) if found else None


def reporting(answer: Answer, said: str) -> Answer:
    """`answer` saying the tool results instead of its text (in as many deltas)."""
    text = RESULT_PREFIX + said[:MAX_QUOTED]
    size = -(-len(text) // max(len(answer.content_parts), 1))
    parts = tuple(text[i : i + size] for i in range(0, len(text), size))
    return Answer(parts, answer.reasoning_parts, text, answer.reasoning, answer.content_tokens)


def scripted(body: dict[str, Any], wire: str, call: ToolCall | None, answer: Answer) -> Any:
    """What the script makes of this request: a ToolCall to make, an Answer reporting
    tool results, or None (the usual answer)."""
    if call is None:
        return None
    said = results(body, wire)
    if said is not None:
        return reporting(answer, said)
    return call if call.name in offered(body, wire) else None


# ---- the call, in each dialect ---------------------------------------------------------


def openai_call(body: dict[str, Any], call: ToolCall, ident: str, created: int) -> dict[str, Any]:
    """A chat completion that calls the tool."""
    arguments = orjson.dumps(call.arguments).decode()
    tool_call = {
        "id": f"call_{ident[:16]}",
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": _openai_usage(body),
    }


def _openai_usage(body: dict[str, Any]) -> dict[str, Any]:
    answer = Answer(("x",), (), "x", "", 4, 0)
    messages = body.get("messages")
    return openai_usage(
        openai_prompt_tokens(messages if isinstance(messages, list) else []), answer
    )


def openai_call_stream(
    body: dict[str, Any], call: ToolCall, ident: str, created: int
) -> list[bytes]:
    """A chat stream that calls the tool: its arguments in two deltas."""
    whole = openai_call(body, call, ident, created)
    tool_call = whole["choices"][0]["message"]["tool_calls"][0]
    arguments = tool_call["function"]["arguments"]
    half = len(arguments) // 2

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        document = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "choices": [choice],
        }
        return b"data: " + orjson.dumps(document) + b"\n\n"

    opening = {**tool_call, "index": 0, "function": {"name": call.name, "arguments": ""}}
    frames = [
        chunk({"role": "assistant", "content": None, "tool_calls": [opening]}),
        *(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in (arguments[:half], arguments[half:])
        ),
        chunk({}, "tool_calls"),
    ]
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        usage = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
            "choices": [],
            "usage": whole["usage"],
        }
        frames.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


def gemini_call(
    body: dict[str, Any], call: ToolCall, model: str, response_id: str, answer: Answer
) -> dict[str, Any]:
    """A generateContent answer that calls the tool (with a thought signature, as Gemini
    3 sends one)."""
    part = {
        "functionCall": {"name": call.name, "args": call.arguments},
        "thoughtSignature": GEMINI_SIGNATURE,
    }
    candidate = {"content": {"role": "model", "parts": [part]}, "index": 0}
    chunk = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
    return gemini_finish(chunk, gemini_prompt_tokens(body), answer)


def gemini_call_stream(
    body: dict[str, Any],
    call: ToolCall,
    model: str,
    response_id: str,
    answer: Answer,
    *,
    is_sse: bool,
) -> list[bytes]:
    """streamGenerateContent calling the tool: one chunk, as Gemini sends a call whole."""
    data = orjson.dumps(gemini_call(body, call, model, response_id, answer))
    return [b"data: " + data + b"\r\n\r\n" if is_sse else b"[" + data + b"]"]
