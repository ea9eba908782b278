"""router.billing.delivered and the charge of estimated usage: what a request pays when
its node's usage did not reach the client (no loop)."""

from __future__ import annotations

import pytest

from router.billing.delivered import billed_usage
from router.billing.pricing import Pricing
from router.billing.settling import settle_outcome
from router.billing.state.base import Admission, Charge, decide_charge
from router.billing.state.outcomes import Outcome, SettledBy
from router.dialects.delivered import DeliveredOutput
from router.dialects.usage import Usage
from router.observability.exchange import Exchange

REPORTED = Usage(prompt=12, completion=40, reasoning=8)
DELIVERED = DeliveredOutput(content_chars=41, reasoning_chars=4)  # 11 and 1 tokens
ESTIMATE = Usage(100, 11, 1, estimated=True)

CASES = [
    pytest.param(Outcome.FAILED, None, None, DELIVERED, None, id="failed: nothing to price"),
    pytest.param(Outcome.FAILED, REPORTED, None, DELIVERED, REPORTED, id="failed: kept as is"),
    pytest.param(Outcome.SUCCESS, REPORTED, None, DELIVERED, REPORTED, id="reported: charged"),
    pytest.param(
        Outcome.DISCONNECTED, REPORTED, None, DELIVERED, REPORTED, id="usage seen before leaving"
    ),
    pytest.param(Outcome.SUCCESS, None, None, DELIVERED, ESTIMATE, id="no usage chunk: delivered"),
    pytest.param(Outcome.DISCONNECTED, None, None, DELIVERED, ESTIMATE, id="stopped: delivered"),
    pytest.param(Outcome.CLIENT_SLOW, None, None, DELIVERED, ESTIMATE, id="cut slow: delivered"),
    pytest.param(
        Outcome.DISCONNECTED, None, REPORTED, DELIVERED, REPORTED, id="usage within the grace"
    ),
    pytest.param(Outcome.DISCONNECTED, None, None, None, None, id="nothing measured: reservation"),
    pytest.param(
        Outcome.DISCONNECTED, None, REPORTED, None, REPORTED, id="unmeasured: grace usage"
    ),
]


@pytest.mark.parametrize(("outcome", "seen", "late", "delivered", "expected"), CASES)
def test_billed_usage(outcome, seen, late, delivered, expected) -> None:
    got = billed_usage(outcome, seen, late=late, delivered=delivered, prompt_estimate=100)
    assert got == expected


PRICING = Pricing(prompt_per_1k=1_000_000, completion_per_1k=2_000_000)  # 1 and 2 credits


def _admission(reserved: int) -> Admission:
    return Admission("r", "m", 0.0, key_name="k", key_hash="h", reserved=reserved, pricing=PRICING)


def test_an_estimate_is_charged_as_delivered_and_never_above_the_reservation() -> None:
    estimate = Usage(10, 5, 0, estimated=True)  # 10 * 1000 + 5 * 2000 = 20_000
    assert decide_charge(_admission(1_000_000), estimate, Outcome.DISCONNECTED) == Charge(
        SettledBy.DELIVERED, 20_000
    )
    assert decide_charge(_admission(15_000), estimate, Outcome.SUCCESS) == Charge(
        SettledBy.DELIVERED, 15_000
    )
    assert decide_charge(_admission(0), estimate, Outcome.SUCCESS) == Charge(
        SettledBy.DELIVERED, 20_000
    )
    assert decide_charge(_admission(15_000), estimate, Outcome.FAILED) == Charge(
        SettledBy.REFUND, 0
    )


def test_a_client_cut_for_not_reading_ended_client_slow() -> None:
    exchange = Exchange("r", "POST", "/v1/chat/completions", None, 0.0)
    exchange.node, exchange.status = "n1", 200
    exchange.client_disconnected = exchange.client_slow = True
    assert settle_outcome(exchange) is Outcome.CLIENT_SLOW
    exchange.error_code = "upstream_error"  # the node failed too: a failure, refunded
    assert settle_outcome(exchange) is Outcome.FAILED
