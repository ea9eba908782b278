"""Usage as Anthropic answers report it.

`input_tokens` EXCLUDES the tokens read from and written to the prompt cache
(`cache_read_input_tokens`, `cache_creation_input_tokens`): the router's prompt count is
their sum, each charged as a prompt token. `output_tokens` INCLUDES thinking; it is
counted as reasoning only where the node says how much of it was
(`output_tokens_details.thinking_tokens`), else all as completion (the total is the same).

A stream reports in two parts: `message_start` carries the input (and an output of 0 or
1), `message_delta` the cumulative output, and the input again only on newer APIs. So a
stream's usage so far is the earlier report completed by the later one (`later_usage`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from router.dialects.usage import Usage, reported_count, token_count

USAGE_MARK = re.compile(rb'"usage"\s*:\s*\{')  # message_start, message_delta, a message
_INPUT = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def usage_object(document: Any) -> Mapping[str, Any] | None:
    """The `usage` object one answer or event carries (message_start's is inside its
    `message`), or None."""
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if usage is None and document.get("type") == "message_start":
        message = document.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
    return usage if isinstance(usage, dict) else None


def usage_from_anthropic(document: Any) -> Usage | None:
    """Usage from a Messages answer or stream event, or None when it reports none."""
    usage = usage_object(document)
    if usage is None:
        return None
    output = token_count(usage, "output_tokens")
    details = usage.get("output_tokens_details")
    thinking = token_count(details, "thinking_tokens") if isinstance(details, dict) else 0
    thinking = min(thinking, output)
    return Usage(
        prompt=sum(token_count(usage, name) for name in _INPUT),
        completion=output - thinking,
        reasoning=thinking,
    )


def later_usage(earlier: Usage, report: Usage) -> Usage:
    """A stream's usage after one more report: the input from the report that has it
    (message_delta may leave it out), the output from the latest that counts any."""
    prompt = report.prompt or earlier.prompt
    if report.completion or report.reasoning:
        return Usage(prompt, report.completion, report.reasoning)
    return Usage(prompt, earlier.completion, earlier.reasoning)


def add_usage(document: dict[str, Any], earlier: Usage) -> None:
    """Add the failed nodes' usage to what this event reports (a continued answer's
    total): their output to `output_tokens`, their prompt to `input_tokens` where the
    event reports the input."""
    usage = usage_object(document)
    if not isinstance(usage, dict):
        return
    output = reported_count(usage.get("output_tokens"))
    usage["output_tokens"] = output + earlier.completion + earlier.reasoning
    if "input_tokens" in usage:
        usage["input_tokens"] = reported_count(usage.get("input_tokens")) + earlier.prompt
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and earlier.reasoning:
        thinking = reported_count(details.get("thinking_tokens")) + earlier.reasoning
        details["thinking_tokens"] = thinking
