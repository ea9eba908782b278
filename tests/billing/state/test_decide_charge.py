"""router.billing.state.base.decide_charge: the settlement rules as a table (no loop)."""

from __future__ import annotations

import pytest

from router.billing.pricing import Pricing, Usage
from router.billing.state.base import Admission, Charge, Outcome, SettledBy, decide_charge

# Micro-credits per 1,000 tokens: prompt 0.3, completion 2.5, reasoning 1.0 credits.
PRICING = Pricing(
    pre_deduct=5_000_000,
    prompt_per_1k=300_000,
    completion_per_1k=2_500_000,
    reasoning_per_1k=1_000_000,
)
PRICED = Admission("r1", "m", 0.0, key_name="k", key_hash="h", reserved=5_000_000, pricing=PRICING)
UNPRICED = Admission("r2", "m", 0.0, key_name="k", key_hash="h", reserved=0, pricing=None)
USAGE = Usage(prompt=10, completion=20, reasoning=16)
# 10 * 300_000 + 20 * 2_500_000 + 16 * 1_000_000 = 69_000_000 thousandths -> 69_000.
USAGE_COST = 69_000

HALF = Admission("r3", "m", 0.0, pricing=Pricing(completion_per_1k=1))  # 1/1000 a token
OK, FAIL, LEFT = Outcome.SUCCESS, Outcome.FAILED, Outcome.DISCONNECTED
BY_USAGE, BY_RESERVATION, REFUND = SettledBy.USAGE, SettledBy.RESERVATION, SettledBy.REFUND

# (admission, usage seen, how it ended, the charge decided, why)
CASES = [
    pytest.param(*case[:4], id=case[4])
    for case in [
        (PRICED, USAGE, FAIL, Charge(REFUND, 0), "failed: refund"),
        (PRICED, None, FAIL, Charge(REFUND, 0), "failed, no usage"),
        (PRICED, USAGE, OK, Charge(BY_USAGE, USAGE_COST), "usage priced"),
        (PRICED, None, OK, Charge(BY_RESERVATION, 5_000_000), "no usage: the reservation"),
        (PRICED, USAGE, LEFT, Charge(BY_USAGE, USAGE_COST), "disconnected: the usage seen so far"),
        (PRICED, None, LEFT, Charge(BY_RESERVATION, 5_000_000), "disconnected without usage"),
        (UNPRICED, USAGE, OK, Charge(BY_USAGE, 0), "no pricing: usage, 0"),
        (UNPRICED, None, OK, Charge(BY_RESERVATION, 0), "no pricing, no usage: nothing reserved"),
        (PRICED, Usage(prompt=1), OK, Charge(BY_USAGE, 300), "one prompt token: 300 micro-credits"),
        (HALF, Usage(completion=500), OK, Charge(BY_USAGE, 1), "half a micro-credit rounds up"),
        (HALF, Usage(completion=499), OK, Charge(BY_USAGE, 0), "under half rounds down"),
    ]
]  # fmt: skip


@pytest.mark.parametrize(("admission", "usage", "outcome", "expected"), CASES)
def test_decide_charge(
    admission: Admission, usage: Usage | None, outcome: Outcome, expected: Charge
) -> None:
    assert decide_charge(admission, usage, outcome) == expected


@pytest.mark.parametrize(
    ("node", "status", "error_code", "left", "outcome"),
    [
        ("n1", 200, None, False, "SUCCESS"),
        ("n1", 200, None, True, "DISCONNECTED"),  # left an answer still going: charged
        # The node failed mid-answer and the client left while the error event was
        # written: a failure, refunded, not a disconnect charged its reservation.
        ("n1", 200, "upstream_error", True, "FAILED"),
        ("n1", 200, "upstream_error", False, "FAILED"),
        ("n1", 400, None, True, "FAILED"),  # a node's 400, relayed
        (None, 503, "no_available_node", False, "FAILED"),
        (None, 0, None, True, "FAILED"),  # left before any node answered
    ],
)
def test_how_a_request_ended_for_its_charge(node, status, error_code, left, outcome) -> None:
    from router.billing.settling import settle_outcome
    from router.billing.state.outcomes import Outcome
    from router.observability.exchange import Exchange

    exchange = Exchange("r", "POST", "/v1/chat/completions", None, 0.0)
    exchange.node, exchange.status, exchange.error_code = node, status, error_code
    exchange.client_disconnected = left
    assert settle_outcome(exchange) is Outcome[outcome]
