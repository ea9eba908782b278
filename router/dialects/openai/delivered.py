"""What an OpenAI-compatible answer says, counted as characters of output text
(`estimate.text_size`: a CJK character is four) for the charge of an answer whose
usage never came (router.dialects.delivered).

Content includes refusals and tool calls (names and arguments); reasoning is counted
apart, once even when a node sends both spellings. Chat Completions (a stream's `delta`,
an answer's `message`), legacy completions (`text`) and the Responses API (its `*.delta`
events, or an answer's `output` items) are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.estimate import text_size

_REASONING_KEYS = ("reasoning_content", "reasoning")  # DeepSeek/vLLM, and OpenRouter's
_CONTENT_KEYS = ("content", "refusal", "text")


def output_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    """Characters of output text in one answer or event: (content, reasoning)."""
    if "choices" in document:
        return _choices_chars(document.get("choices"))
    return _responses_chars(document)


def has_finish_reason(document: Any) -> bool:
    """Whether an event ends its answer's text: a choice's `finish_reason`. Only the
    usage, and the end, may follow it."""
    if not isinstance(document, dict):
        return False
    items = document.get("choices")
    return isinstance(items, list) and any(
        isinstance(i, dict) and i.get("finish_reason") for i in items
    )


def _choices_chars(choices: object) -> tuple[int, int]:
    """Chat Completions (a stream's `delta`, an answer's `message`) and legacy `text`."""
    content = reasoning = 0
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            content += text_size(text)
        turn = choice.get("delta")
        if not isinstance(turn, dict):
            turn = choice.get("message")
        if not isinstance(turn, dict):
            continue
        for key in _CONTENT_KEYS:
            value = turn.get(key)
            if type(value) is str:
                content += text_size(value)
        for key in _REASONING_KEYS:  # a node sending both spellings sends the text twice
            value = turn.get(key)
            if type(value) is str and value:
                reasoning += text_size(value)
                break
        if "tool_calls" in turn or "function_call" in turn:
            content += _calls_chars(turn)
    return content, reasoning


def _calls_chars(turn: Mapping[str, Any]) -> int:
    calls = turn.get("tool_calls")
    functions = (
        [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    )
    functions.append(turn.get("function_call"))
    total = 0
    for function in functions:
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                value = function.get(key)
                total += text_size(value) if isinstance(value, str) else 0
    return total


def _responses_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    """The Responses API: a stream's `*.delta` events, or an answer's `output` items."""
    kind = document.get("type")
    delta = document.get("delta")
    if isinstance(kind, str) and isinstance(delta, str):
        size = text_size(delta)
        return (0, size) if "reasoning" in kind else (size, 0)
    content = reasoning = 0
    output = document.get("output")
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        is_reasoning = item.get("type") == "reasoning"
        arguments = item.get("arguments")
        content += text_size(arguments) if isinstance(arguments, str) else 0
        for part in _parts(item, "summary" if is_reasoning else "content"):
            text = part.get("text")
            if isinstance(text, str):
                if is_reasoning:
                    reasoning += text_size(text)
                else:
                    content += text_size(text)
    return content, reasoning


def _parts(item: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    parts = item.get(key)
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
