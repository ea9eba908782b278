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

CASES = [
    pytest.param(PRICED, USAGE, Outcome.FAILED, Charge(SettledBy.REFUND, 0), id="failed: refund"),
    pytest.param(PRICED, None, Outcome.FAILED, Charge(SettledBy.REFUND, 0), id="failed, no usage"),
    pytest.param(
        PRICED, USAGE, Outcome.SUCCESS, Charge(SettledBy.USAGE, USAGE_COST), id="usage priced"
    ),
    pytest.param(
        PRICED,
        None,
        Outcome.SUCCESS,
        Charge(SettledBy.RESERVATION, 5_000_000),
        id="no usage: the reservation",
    ),
    pytest.param(
        PRICED,
        USAGE,
        Outcome.DISCONNECTED,
        Charge(SettledBy.USAGE, USAGE_COST),
        id="disconnected: the usage seen so far",
    ),
    pytest.param(
        PRICED,
        None,
        Outcome.DISCONNECTED,
        Charge(SettledBy.RESERVATION, 5_000_000),
        id="disconnected without usage: the reservation",
    ),
    pytest.param(
        UNPRICED, USAGE, Outcome.SUCCESS, Charge(SettledBy.USAGE, 0), id="no pricing: usage, 0"
    ),
    pytest.param(
        UNPRICED,
        None,
        Outcome.SUCCESS,
        Charge(SettledBy.RESERVATION, 0),
        id="no pricing, no usage: nothing reserved",
    ),
    pytest.param(
        PRICED,
        Usage(prompt=1),
        Outcome.SUCCESS,
        Charge(SettledBy.USAGE, 300),
        id="one prompt token: 300 micro-credits",
    ),
    pytest.param(
        Admission("r3", "m", 0.0, pricing=Pricing(completion_per_1k=1)),
        Usage(completion=500),
        Outcome.SUCCESS,
        Charge(SettledBy.USAGE, 1),
        id="half a micro-credit rounds up",
    ),
    pytest.param(
        Admission("r4", "m", 0.0, pricing=Pricing(completion_per_1k=1)),
        Usage(completion=499),
        Outcome.SUCCESS,
        Charge(SettledBy.USAGE, 0),
        id="under half a micro-credit rounds down",
    ),
]


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
    from router.billing.service import settle_outcome
    from router.billing.state.outcomes import Outcome
    from router.observability.exchange import Exchange

    exchange = Exchange("r", "POST", "/v1/chat/completions", None, 0.0)
    exchange.node, exchange.status, exchange.error_code = node, status, error_code
    exchange.client_disconnected = left
    assert settle_outcome(exchange) is Outcome[outcome]
