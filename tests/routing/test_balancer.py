"""Node selection: smooth weighted round-robin, least in-flight, tiers. No event loop."""

from __future__ import annotations

from collections import Counter

import pytest

from router.config.model import Backend, ModelRoute, Strategy
from router.routing.balancer import ModelBalancer, SmoothWeighted


def route(*backends: Backend, strategy: Strategy = Strategy.WEIGHTED) -> ModelRoute:
    return ModelRoute(name="m", backends=backends, strategy=strategy)


def always(_: str) -> bool:
    return True


def no_load(_: str) -> int:
    return 0


@pytest.mark.parametrize(
    ("weights", "picks", "expected"),
    [
        ((3, 1), 8, "AABAAABA"),  # nginx's smooth order: never 3 in a row in bursts of 4
        ((1, 1), 4, "ABAB"),
        ((5, 1, 1), 7, "AABACAA"),
        ((1,), 3, "AAA"),
    ],
)
def test_smooth_weighted_sequence(weights, picks, expected) -> None:
    rr = SmoothWeighted(weights)
    order = "".join("ABC"[rr.pick([True] * len(weights))] for _ in range(picks))
    assert order == expected


def test_weights_give_exact_split() -> None:
    balancer = ModelBalancer(route(Backend("a", 3), Backend("b", 1)))
    counts = Counter(balancer.choose(always, no_load).node for _ in range(2000))
    assert counts == {"a": 1500, "b": 500}


def test_ineligible_node_is_skipped_and_others_keep_ratio() -> None:
    balancer = ModelBalancer(route(Backend("a", 2), Backend("b", 1), Backend("c", 1)))
    counts = Counter(balancer.choose(lambda n: n != "a", no_load).node for _ in range(100))
    assert counts == {"b": 50, "c": 50}


def test_none_when_nothing_eligible() -> None:
    balancer = ModelBalancer(route(Backend("a"), Backend("b")))
    assert balancer.choose(lambda n: False, no_load) is None


def test_lower_priority_tier_only_when_first_exhausted() -> None:
    balancer = ModelBalancer(
        route(Backend("a", priority=0), Backend("b", priority=1), Backend("c", priority=2))
    )
    assert balancer.choose(always, no_load).node == "a"
    assert balancer.choose(lambda n: n != "a", no_load).node == "b"
    assert balancer.choose(lambda n: n == "c", no_load).node == "c"


def test_tiers_ordered_by_priority_number_not_listing_order() -> None:
    balancer = ModelBalancer(route(Backend("late", priority=5), Backend("early", priority=1)))
    assert balancer.choose(always, no_load).node == "early"


def test_least_inflight_prefers_idle_node() -> None:
    load = {"a": 5, "b": 1, "c": 3}
    balancer = ModelBalancer(
        route(Backend("a"), Backend("b"), Backend("c"), strategy=Strategy.LEAST_INFLIGHT)
    )
    assert balancer.choose(always, load.__getitem__).node == "b"
    assert balancer.choose(lambda n: n != "b", load.__getitem__).node == "c"


def test_least_inflight_is_per_unit_of_weight() -> None:
    load = {"a": 4, "b": 3}
    balancer = ModelBalancer(
        route(Backend("a", weight=4), Backend("b", weight=1), strategy=Strategy.LEAST_INFLIGHT)
    )
    assert balancer.choose(always, load.__getitem__).node == "a"  # 4/4 < 3/1


def test_least_inflight_ties_alternate() -> None:
    balancer = ModelBalancer(route(Backend("a"), Backend("b"), strategy=Strategy.LEAST_INFLIGHT))
    picks = [balancer.choose(always, no_load).node for _ in range(4)]
    assert picks == ["a", "b", "a", "b"]
