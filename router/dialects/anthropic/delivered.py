"""What an Anthropic answer says, counted as characters of output text (`estimate.text_size`:
a CJK character is four) for the charge of an answer whose usage never came
(router.dialects.delivered): text, thinking apart, and tool calls (their names and input
JSON). A stream's deltas (`text_delta`,
`thinking_delta`, `input_json_delta`) and a whole message's content blocks are read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.estimate import text_size

_DELTA_TEXT = {"text_delta": ("text", False), "thinking_delta": ("thinking", True)}


def output_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    """Characters of output text in one answer or event: (content, reasoning)."""
    kind = document.get("type")
    if kind == "content_block_delta":
        return _delta_chars(document.get("delta"))
    if kind == "content_block_start":
        return _block_chars(document.get("content_block"))
    if kind == "message":
        content = reasoning = 0
        blocks = document.get("content")
        for block in blocks if isinstance(blocks, list) else ():
            more, thought = _block_chars(block)
            content, reasoning = content + more, reasoning + thought
        return content, reasoning
    return 0, 0


def has_finish_reason(document: Any) -> bool:
    """Whether an event ends its answer's text: `message_delta` with a `stop_reason` (a
    whole message has one too). Only the usage and the end follow it."""
    if not isinstance(document, dict):
        return False
    if document.get("type") == "message":
        return bool(document.get("stop_reason"))
    delta = document.get("delta") if document.get("type") == "message_delta" else None
    return isinstance(delta, dict) and bool(delta.get("stop_reason"))


def _delta_chars(delta: object) -> tuple[int, int]:
    if not isinstance(delta, dict):
        return 0, 0
    kind = delta.get("type")
    if kind == "input_json_delta":
        partial = delta.get("partial_json")
        return (text_size(partial), 0) if isinstance(partial, str) else (0, 0)
    if not isinstance(kind, str) or kind not in _DELTA_TEXT:
        return 0, 0
    field, is_reasoning = _DELTA_TEXT[kind]
    text = delta.get(field)
    if not isinstance(text, str):
        return 0, 0
    size = text_size(text)
    return (0, size) if is_reasoning else (size, 0)


def _block_chars(block: object) -> tuple[int, int]:
    """A content block as it starts (a stream) or whole (a message)."""
    if not isinstance(block, dict):
        return 0, 0
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return (text_size(text), 0) if isinstance(text, str) else (0, 0)
    if kind == "thinking":
        thinking = block.get("thinking")
        return (0, text_size(thinking)) if isinstance(thinking, str) else (0, 0)
    if kind == "tool_use":
        name, tool_input = block.get("name"), block.get("input")
        size = text_size(name) if isinstance(name, str) else 0
        if tool_input:  # a stream's block starts with `{}`: its input comes as deltas
            size += text_size(orjson.dumps(tool_input).decode())
        return size, 0
    return 0, 0
