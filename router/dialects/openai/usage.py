"""Usage as OpenAI-compatible answers report it, and the usage-only chunk of a stream.

Chat Completions (`prompt_tokens`/`completion_tokens`) and the Responses API
(`input_tokens`/`output_tokens`) both count reasoning inside the completion total;
embeddings report `prompt_tokens` only. A Responses stream event (`response.completed`)
carries its usage inside `response`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.dialects.sse import event_data
from router.dialects.usage import Usage, reported_count, token_count

USAGE_MARK = re.compile(rb'"usage"\s*:\s*\{')  # in every event that reports usage


def usage_from_openai(obj: Any) -> Usage | None:
    """Usage from an OpenAI response or stream chunk (its `usage`), or None when absent."""
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if usage is None and isinstance(obj, dict):
        response = obj.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = token_count(usage, "prompt_tokens")
        completion = token_count(usage, "completion_tokens")
        details = usage.get("completion_tokens_details")
    elif "input_tokens" in usage or "output_tokens" in usage:
        prompt, completion = token_count(usage, "input_tokens"), token_count(usage, "output_tokens")
        details = usage.get("output_tokens_details")
    else:
        return None
    reasoning = token_count(details, "reasoning_tokens") if isinstance(details, dict) else 0
    reasoning = min(reasoning, completion)  # never charge a token twice or negatively
    return Usage(prompt=prompt, completion=completion - reasoning, reasoning=reasoning)


def is_usage_only(event: bytes) -> bool:
    """True for an OpenAI chunk that carries usage and nothing a client could use.

    Recognised by content, not by `choices == []`: LiteLLM sends the usage chunk with
    `choices: [{"index": 0, "delta": {}}]`. A chunk whose choice has any delta value, a
    finish reason or logprobs is kept (usage riding on the last content chunk).
    """
    payload = event_data(event)
    if not USAGE_MARK.search(payload):
        return False
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(document, dict) or not isinstance(document.get("usage"), dict):
        return False
    choices = document.get("choices")
    if choices is None:
        return True
    return isinstance(choices, list) and all(_is_empty_choice(c) for c in choices)


def _is_empty_choice(choice: object) -> bool:
    if not isinstance(choice, dict):
        return False
    if choice.get("finish_reason") or choice.get("logprobs"):
        return False
    delta = choice.get("delta")
    if delta is None:  # a legacy completions chunk carries `text` instead of a delta
        return not choice.get("text") and not choice.get("message")
    return isinstance(delta, dict) and not any(delta.values())


def add_usage(document: dict[str, Any], earlier: Usage) -> None:
    """Add the failed nodes' usage to the usage this chunk reports."""
    usage = document.get("usage")
    if not isinstance(usage, dict):  # the usage was read from elsewhere in the event
        return
    usage["prompt_tokens"] = reported_count(usage.get("prompt_tokens")) + earlier.prompt
    completion = earlier.completion + earlier.reasoning  # OpenAI counts reasoning inside
    usage["completion_tokens"] = reported_count(usage.get("completion_tokens")) + completion
    usage["total_tokens"] = reported_count(usage.get("total_tokens")) + earlier.total
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict):
        reasoning = reported_count(details.get("reasoning_tokens")) + earlier.reasoning
        details["reasoning_tokens"] = reasoning
    elif earlier.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": earlier.reasoning}
