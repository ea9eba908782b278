"""What a request costs: per-model prices and exact arithmetic over token usage.

Pure. Money is integer micro-credits (router.config.credits) so balances and ledger sums
are exact; prices come from routes.yaml as `router.config.model.Pricing`. Token usage
(`Usage`, read from either API's answers) lives in router.dialects.usage.
"""

from __future__ import annotations

from router.config.model import Pricing
from router.dialects.usage import Usage


def cost(pricing: Pricing, usage: Usage) -> int:
    """Micro-credits for `usage`: summed at full precision, rounded half up once."""
    thousandths = (
        usage.prompt * pricing.prompt_per_1k
        + usage.completion * pricing.completion_per_1k
        + usage.reasoning * pricing.reasoning_per_1k
    )
    return (thousandths + 500) // 1000
