"""Token usage, reduced to three disjoint counts whatever dialect reported it.

Token accounting differs between the APIs and each token is charged once: OpenAI's
`completion_tokens` INCLUDES its reasoning tokens, Gemini's `candidatesTokenCount` does
NOT include `thoughtsTokenCount`. Each dialect's answers reader (its `answers` facet)
turns its own usage object into `Usage`: prompt, text completion (without reasoning) and
reasoning, each counted once.
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


MAX_COUNT = 2**53  # no real answer reaches it; orjson cannot write integers past 64 bits


def token_count(mapping: Mapping[str, Any], name: str) -> int:
    """A count a node reports; 0 for anything that is not a non-negative integer."""
    value = mapping.get(name)
    # type() is: a bool is an int subclass, and no count is a bool.
    return value if type(value) is int and value >= 0 else 0


def reported_count(value: object) -> int:
    """A count as a node reports it, to add to: 0 for anything else, or for a count no
    real answer reaches (orjson cannot write integers past 64 bits)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT:
        return value
    return 0
