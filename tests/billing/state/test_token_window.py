"""Token-per-minute rules (pure): the request estimate and the one-second window."""

from __future__ import annotations

import orjson
import pytest

from router.billing.state.outcomes import Outcome
from router.billing.state.token_window import TokenWindow, settled_tokens
from router.config.keys import KeySpec
from router.dialects.estimate import TokenEstimate, estimate_tokens, token_estimate
from router.dialects.usage import Usage


@pytest.mark.parametrize(
    ("document", "cap"),
    [
        ({"model": "m"}, 0),
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 70, "max_tokens": 50}, 70),
        ({"max_output_tokens": 30}, 30),
        ({"generationConfig": {"maxOutputTokens": 40}}, 40),
        ({"max_tokens": True}, 0),
        ({"max_tokens": -5}, 0),
        ({"max_tokens": "9"}, 0),
        ({"generationConfig": "x"}, 0),
    ],
)
def test_estimate_is_the_body_over_four_plus_the_output_cap(document, cap) -> None:
    raw = orjson.dumps(document)
    assert token_estimate(raw, document) == -(-len(raw) // 4) + cap
    assert token_estimate(raw, None) == -(-len(raw) // 4)
    estimate = estimate_tokens(raw, document)
    assert estimate == TokenEstimate(-(-len(raw) // 4), cap or None)
    assert estimate.total == token_estimate(raw, document)


def test_window_admits_until_the_limit_then_says_when_enough_leaves() -> None:
    window = TokenWindow()
    assert window.wait(100.5, 10_000, 1000) is None  # alone in an empty window
    window.add(100, 600)
    window.add(130, 300)
    assert window.wait(131.0, 100, 1000) is None
    assert window.wait(131.0, 101, 1000) == pytest.approx(29.0)  # second 100 leaves at 160
    assert window.wait(131.0, 1000, 1000) == pytest.approx(59.0)  # both must leave
    assert window.wait(160.0, 700, 1000) is None  # second 100 is out of the window
    window.add(130, -300)  # a settlement's correction
    assert window.wait(161.0, 5000, 1000) is None  # empty again


def test_settled_tokens_follow_the_outcome() -> None:
    usage = Usage(prompt=3, completion=4, reasoning=5)
    assert settled_tokens(usage, Outcome.SUCCESS) == 12
    assert settled_tokens(usage, Outcome.FAILED) == 12  # a node's partial answer counts
    assert settled_tokens(None, Outcome.FAILED) == 0
    assert settled_tokens(None, Outcome.SUCCESS) is None  # keeps the estimate
    assert settled_tokens(None, Outcome.EXPIRED) is None


def test_tpm_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tpm must be at least 1"):
        KeySpec(name="a", tpm=0)


@pytest.mark.parametrize(("seconds", "wait"), [(60.0004, 60.0), (-0.2, 0.0), (12.5, 12.5)])
def test_a_window_wait_is_at_most_the_window(seconds: float, wait: float) -> None:
    """Replicas stamp admissions with their own clocks: an oldest entry a hair in the
    asking router's future must not make a 61 s Retry-After for a 60 s window."""
    from router.billing.state.token_window import window_wait

    assert window_wait(seconds) == wait
