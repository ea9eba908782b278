"""Token usage as each dialect reports it, reduced to three disjoint counts.

Token accounting differs between the two APIs and each token is charged once:
OpenAI's `completion_tokens` already INCLUDES `completion_tokens_details.reasoning_tokens`,
while Gemini's `candidatesTokenCount` does NOT include `thoughtsTokenCount`. `Usage` holds
the three disjoint counts: prompt, text completion (without reasoning) and reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class UsagePart:
    """One node's share of an answer continued on another node (on_midstream_failure)."""

    node: str
    prompt: int
    completion: int
    reasoning: int
    estimated: bool  # the node failed before reporting usage: counted from what it sent


@dataclass(frozen=True, slots=True)
class Usage:
    """Disjoint token counts: `completion` is text only, reasoning is counted apart.

    `parts`, for an answer continued after its node failed, holds each node's share
    (the counts are their sums); empty otherwise. `estimated`: no node reported these
    counts; they were estimated from what the client received (router.dialects.delivered)."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    parts: tuple[UsagePart, ...] = ()
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt + self.completion + self.reasoning


def usage_from_openai(obj: Any) -> Usage | None:
    """Usage from an OpenAI response or stream chunk (its `usage`), or None when absent.

    Chat Completions (`prompt_tokens`/`completion_tokens`) and the Responses API
    (`input_tokens`/`output_tokens`) both count reasoning inside the completion total;
    embeddings report `prompt_tokens` only. A Responses stream event (`response.completed`)
    carries its usage inside `response`.
    """
    usage = obj.get("usage") if isinstance(obj, Mapping) else None
    if usage is None and isinstance(obj, Mapping):
        response = obj.get("response")
        usage = response.get("usage") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
        details = usage.get("completion_tokens_details")
    elif "input_tokens" in usage or "output_tokens" in usage:
        prompt, completion = _count(usage, "input_tokens"), _count(usage, "output_tokens")
        details = usage.get("output_tokens_details")
    else:
        return None
    reasoning = _count(details, "reasoning_tokens") if isinstance(details, Mapping) else 0
    reasoning = min(reasoning, completion)  # never charge a token twice or negatively
    return Usage(prompt=prompt, completion=completion - reasoning, reasoning=reasoning)


def usage_from_gemini(obj: Any) -> Usage | None:
    """Usage from a Gemini response or stream chunk (its `usageMetadata`), or None.

    Gemini repeats cumulative usage on stream chunks, so the caller keeps the last one.
    Tool-use prompt tokens are not part of `promptTokenCount` and are added to it.
    """
    meta = obj.get("usageMetadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return None
    return Usage(
        prompt=_count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount"),
        completion=_count(meta, "candidatesTokenCount"),
        reasoning=_count(meta, "thoughtsTokenCount"),
    )


def _count(mapping: Mapping[str, Any], name: str) -> int:
    value = mapping.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
