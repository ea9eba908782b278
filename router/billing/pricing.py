"""What a request costs: per-model prices and exact arithmetic over token usage.

Pure. Money is integer micro-credits (1 credit = 1,000,000) so balances and ledger sums
are exact; config and output use decimal credits with at most 6 places. Token usage
(`Usage`, read from either API's answers) lives in router.dialects.usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from router.config.source import Path, Problem, format_path
from router.dialects.usage import Usage
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


def cost(pricing: Pricing, usage: Usage) -> int:
    """Micro-credits for `usage`: summed at full precision, rounded half up once."""
    thousandths = (
        usage.prompt * pricing.prompt_per_1k
        + usage.completion * pricing.completion_per_1k
        + usage.reasoning * pricing.reasoning_per_1k
    )
    return (thousandths + 500) // 1000


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
