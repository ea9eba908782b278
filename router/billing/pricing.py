"""What a request costs: per-model prices, token usage from either API, exact arithmetic.

Pure. Money is integer micro-credits (1 credit = 1,000,000) so balances and ledger sums
are exact; config and output use decimal credits with at most 6 places.

Token accounting differs between the two APIs and each token is charged once:
OpenAI's `completion_tokens` already INCLUDES `completion_tokens_details.reasoning_tokens`,
while Gemini's `candidatesTokenCount` does NOT include `thoughtsTokenCount`. `Usage` holds
the three disjoint counts: prompt, text completion (without reasoning) and reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from router.config.source import Path, Problem, format_path
from router.errors import ConfigError

MICRO = 1_000_000


def credits_to_micro(value: int | float | str | Decimal) -> int:
    """Decimal credits -> micro-credits; more than 6 decimal places is an error."""
    if isinstance(value, bool):
        raise ValueError("credits must be a number")
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into the money.
        amount = Decimal(str(value).strip().replace("_", ""))
    except InvalidOperation as exc:
        raise ValueError(f"credits must be a number, got {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"credits must be finite, got {value!r}")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"credits have at most 6 decimal places, got {value!r}")
    return int(micro)


def micro_to_credits(micro: int) -> float:
    """Micro-credits -> a number with at most 6 decimals, for JSON output."""
    # The shortest repr of the nearest float is the 6-decimal string itself.
    return float(Decimal(micro) / MICRO)


def format_credits(micro: int) -> str:
    """Micro-credits as exact decimal text without trailing zeros (`12.5`, `-0.000001`)."""
    text = f"{Decimal(micro) / MICRO:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class Pricing:
    """One model's prices in micro-credits: a flat reservation and rates per 1,000 tokens."""

    pre_deduct: int = 0
    prompt_per_1k: int = 0
    completion_per_1k: int = 0
    reasoning_per_1k: int = 0

    def __post_init__(self) -> None:
        for name in ("pre_deduct", "prompt_per_1k", "completion_per_1k", "reasoning_per_1k"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0")


@dataclass(frozen=True, slots=True)
class Usage:
    """Disjoint token counts: `completion` is text only, reasoning is counted apart."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion + self.reasoning


def cost(pricing: Pricing, usage: Usage) -> int:
    """Micro-credits for `usage`: summed at full precision, rounded half up once."""
    thousandths = (
        usage.prompt * pricing.prompt_per_1k
        + usage.completion * pricing.completion_per_1k
        + usage.reasoning * pricing.reasoning_per_1k
    )
    return (thousandths + 500) // 1000


def usage_from_openai(obj: Any) -> Usage | None:
    """Usage from an OpenAI response or stream chunk (its `usage`), or None when absent.

    Chat Completions (`prompt_tokens`/`completion_tokens`) and the Responses API
    (`input_tokens`/`output_tokens`) both count reasoning inside the completion total.
    """
    usage = obj.get("usage") if isinstance(obj, Mapping) else None
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


_PRICE_FIELDS = ("pre_deduct", "prompt_per_1k", "completion_per_1k", "reasoning_per_1k")


def parse_pricing(raw: Any, path: Path = ("pricing",)) -> Pricing:
    """One model's `pricing:` mapping (decimal credits) -> Pricing; raises ConfigError.

    `reasoning_per_1k` defaults to `completion_per_1k`: reasoning is output the model wrote.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem(format_path(path), "must be a mapping")])
    problems = [
        Problem(format_path((*path, str(k))), "unknown key") for k in raw if k not in _PRICE_FIELDS
    ]
    values: dict[str, int] = {}
    for name in _PRICE_FIELDS:
        if raw.get(name) is None:
            continue
        try:
            values[name] = credits_to_micro(raw[name])
        except ValueError as exc:
            problems.append(Problem(format_path((*path, name)), str(exc)))
            continue
        if values[name] < 0:
            problems.append(Problem(format_path((*path, name)), "must be at least 0"))
    if problems:
        raise ConfigError(problems)
    values.setdefault("reasoning_per_1k", values.get("completion_per_1k", 0))
    return Pricing(**values)


def parse_pricing_table(raw: Any, path: Path = ("pricing",)) -> dict[str, Pricing]:
    """A `pricing:` mapping of model name -> prices; raises one ConfigError listing all."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem(format_path(path), "must be a mapping of model -> prices")])
    table: dict[str, Pricing] = {}
    problems: list[Problem] = []
    for model, prices in raw.items():
        try:
            table[str(model)] = parse_pricing(prices, (*path, str(model)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return table
