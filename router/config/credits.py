"""Money: integer micro-credits (1 credit = 1,000,000), written as decimal credits.

Pure. Balances and ledger sums are exact integers; config and output use decimal credits
with at most 6 places.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICRO = 1_000_000
# The largest amount of credits anywhere (a balance, a top-up, a price): 10**18
# micro-credits stays inside the signed 64-bit integers Redis's HINCRBY keeps balances in.
MAX_CREDITS = 10**12


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
    if abs(amount) > MAX_CREDITS:
        raise ValueError(f"credits must be at most {MAX_CREDITS} credits either way, got {value!r}")
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
