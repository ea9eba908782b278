"""What a Gemini answer says, counted as characters of output text (for the charge of an
answer whose usage never came: router.dialects.delivered): text parts, thoughts apart,
and function calls (their JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.estimate import text_size


def output_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    """Characters of output text in one answer or event: (content, reasoning)."""
    return _gemini_chars(document)


def has_finish_reason(document: Any) -> bool:
    """Whether an event ends its answer's text: a candidate's `finishReason`. Only the
    usage, and the end, may follow it."""
    if not isinstance(document, dict):
        return False
    items = document.get("candidates")
    return isinstance(items, list) and any(
        isinstance(i, dict) and i.get("finishReason") for i in items
    )


def _gemini_chars(document: Mapping[str, Any]) -> tuple[int, int]:
    content = reasoning = 0
    candidates = document.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        body = candidate.get("content") if isinstance(candidate, dict) else None
        parts = body.get("parts") if isinstance(body, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                if part.get("thought") is True:
                    reasoning += text_size(text)
                else:
                    content += text_size(text)
            call = part.get("functionCall")
            if isinstance(call, dict):
                content += text_size(orjson.dumps(call).decode())
    return content, reasoning
