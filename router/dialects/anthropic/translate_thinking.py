"""Anthropic's thinking settings <-> the IR's reasoning.

From a client: `thinking: {type: enabled, budget_tokens}` is a budget with thoughts
shown; `{type: adaptive}` lets the model decide, thoughts shown; `{type: disabled}` is
effort `none`; `display: omitted` hides thoughts; `output_config.effort` (`low`,
`medium`, `high`, `xhigh`, `max`) is an effort, `max` read as `xhigh`.

To a node, what a model accepts depends on its name, as Gemini's levels do:

* Claude 4.6 and later think adaptively: `thinking: {type: adaptive}` and
  `output_config.effort` (a budget becomes the effort nearest it; 4.7 and later refuse
  budgets). `display` says whether thoughts are shown, when the client said.
* Every other name (Claude 4.5 and earlier, and other vendors' Anthropic-compatible
  APIs) gets `{type: enabled, budget_tokens}`: the budget asked for, or an effort's
  budget (Google's table: low 1024, medium 8192, high 24576, xhigh 32768; thoughts shown
  without an effort are medium), at least Anthropic's minimum of 1024 and below
  `max_tokens`. Without a cap from the client, `max_tokens` is the budget plus
  `DEFAULT_MAX_TOKENS`; a cap of 1024 tokens or fewer leaves no room to think, and
  thinking is not asked for. Thoughts are shown unless the client said to hide them
  (then `display: omitted`).
* Effort `none` or a budget of 0 is `{type: disabled}`.
* Thinking is not asked for when the tool choice forces a call (Anthropic refuses
  forced tool use with manual thinking, and some models with any), nor in a tool-use
  turn whose calls came without signed thinking (another provider's, or a client's that
  lost it): Anthropic wants a turn that thinks to start with its signed thinking block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    ChatRequest,
    Message,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    RedactedReasoningPart,
    Role,
    ToolCallPart,
    ToolChoiceMode,
)
from router.dialects.chat_wire import need_str, opt_int, opt_object, opt_str
from router.errors import InvalidRequest, UnsupportedField

DEFAULT_MAX_TOKENS = 4096  # what an Anthropic node is asked for when the client set no cap
MIN_BUDGET = 1024  # Anthropic's smallest thinking budget

_EFFORT_OF_NAME = {
    "low": ReasoningEffort.LOW,
    "medium": ReasoningEffort.MEDIUM,
    "high": ReasoningEffort.HIGH,
    "xhigh": ReasoningEffort.XHIGH,
    "max": ReasoningEffort.XHIGH,
}
_NAME_OF_EFFORT = {
    ReasoningEffort.MINIMAL: "low",
    ReasoningEffort.LOW: "low",
    ReasoningEffort.MEDIUM: "medium",
    ReasoningEffort.HIGH: "high",
    ReasoningEffort.XHIGH: "max",
}
BUDGET_OF_EFFORT = {
    ReasoningEffort.MINIMAL: MIN_BUDGET,
    ReasoningEffort.LOW: 1024,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 24576,
    ReasoningEffort.XHIGH: 32768,
}
_CLAUDE_VERSION = re.compile(r"claude-(?:[a-z]+-)*?(\d+)(?:[-.](\d{1,2}))?(?!\d)")


def uses_adaptive_thinking(model: str) -> bool:
    """Whether a model name is Claude 4.6 or later (which thinks adaptively)."""
    match = _CLAUDE_VERSION.search(model.lower())
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2) or 0)) >= (4, 6)


def effort_of_budget(budget: int) -> ReasoningEffort:
    """The effort nearest a thinking budget (the OpenAI mapping's table)."""
    if budget <= 0:
        return ReasoningEffort.NONE
    if budget <= 1024:
        return ReasoningEffort.LOW
    return ReasoningEffort.MEDIUM if budget <= 8192 else ReasoningEffort.HIGH


def decode_reasoning(body: Mapping[str, Any]) -> Reasoning:
    """`thinking` and `output_config.effort` as the IR's reasoning settings."""
    config = opt_object(body, "output_config", "")
    name = opt_str(config, "effort", "output_config") if config else None
    effort = None
    if name is not None:
        effort = _EFFORT_OF_NAME.get(name)
        if effort is None:
            raise InvalidRequest("'output_config.effort' must be low, medium, high, xhigh or max")
    thinking = opt_object(body, "thinking", "")
    if thinking is None:
        return Reasoning(effort=effort)
    kind = need_str(thinking, "type", "thinking")
    shown = opt_str(thinking, "display", "thinking") != "omitted"
    if kind == "disabled":
        return Reasoning(effort=ReasoningEffort.NONE)
    if kind == "adaptive":
        return Reasoning(effort=effort, include_thoughts=shown)
    if kind != "enabled":
        raise UnsupportedField("thinking.type", f"thinking of type {kind!r}")
    budget = opt_int(thinking, "budget_tokens", "thinking", 1)
    if budget is None:
        raise InvalidRequest("'thinking.budget_tokens' is required")
    return Reasoning(effort=effort, budget_tokens=budget, include_thoughts=shown)


def encode_reasoning(request: ChatRequest) -> tuple[dict[str, Any], int | None]:
    """The thinking fields for an Anthropic node, and the `max_tokens` they need (None:
    the client's cap, or the default)."""
    reasoning = request.reasoning
    if reasoning.effort is ReasoningEffort.NONE or reasoning.budget_tokens == 0:
        return {"thinking": {"type": "disabled"}}, None
    unset = reasoning.effort is None and reasoning.budget_tokens is None
    if unset and not reasoning.include_thoughts:
        return {}, None
    choice = request.tool_choice
    if choice is not None and choice.mode is ToolChoiceMode.REQUIRED:
        return {}, None
    if in_unsigned_tool_turn(request.messages):
        return {}, None
    if uses_adaptive_thinking(request.model):
        return _adaptive(reasoning), None
    return _budgeted(reasoning, request.generation.max_output_tokens)


def _adaptive(reasoning: Reasoning) -> dict[str, Any]:
    thinking: dict[str, Any] = {"type": "adaptive"}
    if reasoning.include_thoughts is not None:
        thinking["display"] = "summarized" if reasoning.include_thoughts else "omitted"
    effort = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None:
        effort = effort_of_budget(reasoning.budget_tokens)
    if effort is None:
        return {"thinking": thinking}
    return {"thinking": thinking, "output_config": {"effort": _NAME_OF_EFFORT[effort]}}


def _budgeted(reasoning: Reasoning, cap: int | None) -> tuple[dict[str, Any], int | None]:
    budget = reasoning.budget_tokens
    if budget is None:
        budget = BUDGET_OF_EFFORT[reasoning.effort or ReasoningEffort.MEDIUM]
    budget = max(budget, MIN_BUDGET)
    shown = reasoning.include_thoughts is not False
    if cap is None:
        return _enabled(budget, shown), budget + DEFAULT_MAX_TOKENS
    budget = min(budget, cap - 1)
    if budget < MIN_BUDGET:
        return {}, None
    return _enabled(budget, shown), None


def _enabled(budget: int, shown: bool) -> dict[str, Any]:
    thinking: dict[str, Any] = {"type": "enabled", "budget_tokens": budget}
    if not shown:  # older models show thoughts unless told; say it only to hide them
        thinking["display"] = "omitted"
    return {"thinking": thinking}


def in_unsigned_tool_turn(messages: tuple[Message, ...]) -> bool:
    """Whether the conversation ends in a tool-use turn (tool results after the last
    assistant message) whose assistant message has no signed thinking."""
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.role is not Role.ASSISTANT:
            continue
        after = messages[position + 1 :]
        if not any(m.role is Role.TOOL for m in after):
            return False
        has_calls = any(isinstance(p, ToolCallPart) for p in message.parts)
        return has_calls and not any(_is_signed(p) for p in message.parts)
    return False


def _is_signed(part: object) -> bool:
    if isinstance(part, RedactedReasoningPart):
        return True
    return isinstance(part, ReasoningPart) and bool(part.signature)
