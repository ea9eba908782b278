"""What a request costs, and what it reserves before it runs.

Pure. Money is integer micro-credits (router.config.credits) so balances and ledger sums
are exact; prices come from routes.yaml as `router.config.model.Pricing`. Token usage
(`Usage`, read from either API's answers) lives in router.dialects.usage.

How reservations bound overspending: a request's reservation is taken from the key's
balance at admission (atomically, with every other check), so the reservations held at
once never exceed the balance. A request can overspend only by what its real cost exceeds
its reservation. With a flat `pre_deduct` that is anything above it; without one the
reservation is the request's worst case (`reservation`), which the answer cannot exceed
while the prompt has no more tokens than the estimate and the node keeps to the output
cap (docs/keys-and-credits.md states the bound).
"""

from __future__ import annotations

from router.config.model import Pricing, TokenLimits
from router.dialects.estimate import NO_ESTIMATE, TokenEstimate
from router.dialects.usage import Usage

# Output tokens reserved for a request that sets no cap, on a model whose
# `limits.output_tokens` is not configured (`router check` warns about such models).
DEFAULT_OUTPUT_CAP = 4096
NO_LIMITS = TokenLimits()


def cost(pricing: Pricing, usage: Usage) -> int:
    """Micro-credits for `usage`: summed at full precision, rounded half up once."""
    thousandths = (
        usage.prompt * pricing.prompt_per_1k
        + usage.completion * pricing.completion_per_1k
        + usage.reasoning * pricing.reasoning_per_1k
    )
    return (thousandths + 500) // 1000


def output_cap(requested: int | None, limits: TokenLimits) -> int:
    """The most output tokens a request may get: its own cap held to the model's limit,
    else the model's limit, else DEFAULT_OUTPUT_CAP."""
    model = limits.output_tokens
    if requested is None:
        return DEFAULT_OUTPUT_CAP if model is None else model
    return requested if model is None else min(requested, model)


def reservation(
    pricing: Pricing, limits: TokenLimits = NO_LIMITS, estimate: TokenEstimate = NO_ESTIMATE
) -> int:
    """Micro-credits to hold while the request runs: a flat `pre_deduct` when one is set,
    else its worst case, rounded up: the prompt estimate (held to the model's input limit)
    at the prompt price, plus the output cap at the dearer of the completion and reasoning
    prices (a cap counts reasoning tokens too)."""
    if pricing.pre_deduct is not None:
        return pricing.pre_deduct
    prompt = estimate.prompt
    if limits.input_tokens is not None:
        prompt = min(prompt, limits.input_tokens)
    output_price = max(pricing.completion_per_1k, pricing.reasoning_per_1k)
    thousandths = prompt * pricing.prompt_per_1k + output_cap(estimate.output_cap, limits) * (
        output_price
    )
    return -(-thousandths // 1000)
