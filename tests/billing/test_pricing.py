from __future__ import annotations

from decimal import Decimal

import pytest

from router.billing.pricing import DEFAULT_OUTPUT_CAP, cost, reservation
from router.config.credits import credits_to_micro, format_credits, micro_to_credits
from router.config.model import Pricing, TokenLimits
from router.dialects.estimate import TokenEstimate
from router.dialects.gemini.answers import usage_from_gemini
from router.dialects.openai.usage import usage_from_openai
from router.dialects.usage import Usage


def test_same_tokens_cost_the_same_from_either_api():
    openai = usage_from_openai(
        {
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 3000,
                "completion_tokens_details": {"reasoning_tokens": 2000},
            }
        }
    )
    gemini = usage_from_gemini(
        {
            "usageMetadata": {
                "promptTokenCount": 1000,
                "candidatesTokenCount": 1000,
                "thoughtsTokenCount": 2000,
            }
        }
    )
    assert openai == gemini == Usage(1000, 1000, 2000)
    p = Pricing(prompt_per_1k=1_000_000, completion_per_1k=2_000_000, reasoning_per_1k=3_000_000)
    # 1 credit prompt + 2 credits text + 6 credits reasoning; each token charged once
    assert cost(p, openai) == cost(p, gemini) == 9_000_000


@pytest.mark.parametrize(
    ("pricing", "usage", "micro"),
    [
        (Pricing(prompt_per_1k=1_000_000), Usage(1000, 0, 0), 1_000_000),
        (Pricing(prompt_per_1k=1), Usage(1, 0, 0), 0),  # 0.001 micro rounds to 0
        (Pricing(prompt_per_1k=1), Usage(500, 0, 0), 1),  # 0.5 rounds half up
        (Pricing(prompt_per_1k=1), Usage(499, 0, 0), 0),
        # rounded once, after summing: 3 x 0.4 micro = 1.2 -> 1 (not 0 + 0 + 0)
        (
            Pricing(prompt_per_1k=1, completion_per_1k=1, reasoning_per_1k=1),
            Usage(400, 400, 400),
            1,
        ),
        (
            Pricing(prompt_per_1k=150_000, completion_per_1k=600_000, reasoning_per_1k=600_000),
            Usage(1234, 567, 89),
            # 1234*0.15 + 567*0.6 + 89*0.6 = 185.1 + 340.2 + 53.4 = 578.7 credits/1000
            578_700,
        ),
        (Pricing(), Usage(10**6, 10**6, 10**6), 0),
    ],
)
def test_cost_exact(pricing, usage, micro):
    assert cost(pricing, usage) == micro


@pytest.mark.parametrize(
    ("value", "micro"),
    [
        (1, 1_000_000),
        ("10000", 10_000_000_000),
        (0.1, 100_000),
        ("0.000001", 1),
        (Decimal("2.5"), 2_500_000),
        ("-3", -3_000_000),
        ("1_000", 1_000_000_000),
    ],
)
def test_credits_to_micro(value, micro):
    assert credits_to_micro(value) == micro


@pytest.mark.parametrize("value", ["0.0000001", "abc", True, "nan", "inf"])
def test_credits_to_micro_rejects(value):
    with pytest.raises(ValueError):
        credits_to_micro(value)


@pytest.mark.parametrize("value", ["1e400", 1e30, "-1e13", 10**12 + 1])
def test_credits_beyond_a_trillion_are_refused(value):
    # 1e400 became a balance JSON shows as null (unlimited); on Redis a balance past
    # 2**63 micro-credits is no integer HINCRBY takes.
    with pytest.raises(ValueError, match="at most 1000000000000 credits"):
        credits_to_micro(value)


def test_a_trillion_credits_is_the_largest_amount():
    assert credits_to_micro(10**12) == 10**18
    assert credits_to_micro(-(10**12)) == -(10**18)


def test_micro_to_credits_presents_six_decimals():
    assert micro_to_credits(1) == 0.000001
    assert micro_to_credits(12_345_678) == 12.345678
    assert micro_to_credits(-5_000_000) == -5.0
    assert format_credits(12_500_000) == "12.5"
    assert format_credits(-1) == "-0.000001"
    assert format_credits(3_000_000) == "3"


AUTO = Pricing(prompt_per_1k=500_000, completion_per_1k=2_000_000, reasoning_per_1k=3_000_000)


@pytest.mark.parametrize(
    ("pricing", "limits", "estimate", "micro"),
    [
        # 100 prompt tokens at 0.5/1k + 1000 output at the dearer 3/1k = 0.05 + 3 credits
        (AUTO, TokenLimits(), TokenEstimate(100, 1000), 3_050_000),
        # no cap in the request: the model's output limit
        (AUTO, TokenLimits(output_tokens=200), TokenEstimate(100, None), 650_000),
        # a cap above the model's limit is held to it; the prompt to the input limit
        (AUTO, TokenLimits(80, 200), TokenEstimate(100, 5000), 640_000),
        # nothing known: the default output cap
        (AUTO, TokenLimits(), TokenEstimate(0, None), DEFAULT_OUTPUT_CAP * 3_000),
        # rounded up, never down: 1 token at 0.001 micro
        (Pricing(prompt_per_1k=1), TokenLimits(), TokenEstimate(1, 1), 1),
        # a flat pre_deduct is the reservation whatever the request
        (Pricing(pre_deduct=5, completion_per_1k=10**9), TokenLimits(), TokenEstimate(9, 9), 5),
        (Pricing(pre_deduct=0), TokenLimits(), TokenEstimate(9, 9), 0),
        (Pricing(), TokenLimits(), TokenEstimate(10**6, 10**6), 0),  # free model
    ],
)
def test_reservation_is_the_worst_case_cost(pricing, limits, estimate, micro):
    assert reservation(pricing, limits, estimate) == micro


def test_reservation_covers_any_usage_within_the_estimate():
    """Whatever the split of output into text and reasoning, the answer costs no more."""
    estimate = TokenEstimate(333, 777)
    held = reservation(AUTO, TokenLimits(), estimate)
    for reasoning in (0, 1, 400, 777):
        usage = Usage(333, 777 - reasoning, reasoning)
        assert cost(AUTO, usage) <= held
