"""Builders of OpenAI Chat Completions messages as a node or client writes them, so the
tables of the translation tests say which call is made rather than spell its JSON."""

from __future__ import annotations

from typing import Any


def signed_tool_call(call_id: str, name: str, arguments: str, signature: str) -> dict[str, Any]:
    """A function call carrying Gemini's thought signature where Gemini's OpenAI endpoint
    puts it (`extra_content.google.thought_signature`)."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
        "extra_content": {"google": {"thought_signature": signature}},
    }


def assistant_calls(*calls: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An assistant message with no text that makes `calls` (plus any other `fields`)."""
    return {"role": "assistant", "content": None, **fields, "tool_calls": list(calls)}
