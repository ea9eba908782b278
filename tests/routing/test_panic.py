"""router.routing.panic: which nodes are tried when none of a model's nodes is selectable."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.routing.health import NodeHealth
from router.routing.panic import panic_candidates
from tests.support.health_records import (
    EJ,
    down_by_check,
    draining,
    ejected,
    model,
    retired,
    unproven,
)


def failed_at(t: float | None, build: Callable[[], NodeHealth] = down_by_check) -> NodeHealth:
    node = build()
    node.last_failure_at = t
    return node


def test_panic_orders_least_recently_failed_first():
    a, b, c, d = failed_at(30.0), failed_at(10.0), failed_at(None), failed_at(20.0, ejected)
    for i, n in enumerate((a, b, c, d)):
        n.name = "abcd"[i]
    assert [n.name for n in panic_candidates([a, b, c, d], 1.0)] == ["c", "b", "d", "a"]


@pytest.mark.parametrize("states,count", [
    ("ch", 0),  # a node is selectable: no panic
    ("ee", 2),
    ("cd", 1),  # disabled nodes are never tried: their key is wrong
    ("dd", 0),
    ("p", 1),  # probing with its trial taken
    ("u", 1),  # never proven: tried at once, like an ejected node
    ("uh", 0),
    ("ud", 1),
    ("uc", 2),
    ("rc", 1),  # a retired node has left routes.yaml: never tried
    ("rr", 0),
])  # fmt: skip
def test_panic_candidates(states, count):
    assert len(panic_candidates(model(*states), 1.0)) == count


def test_panic_tries_an_unproven_node_before_failed_ones():
    a, b = down_by_check(), unproven()
    a.name, b.name = "a", "b"
    assert [n.name for n in panic_candidates([a, b], 1.0)] == ["b", "a"]


def test_draining_nodes_are_never_panic_candidates():
    assert panic_candidates([draining(), down_by_check()], 1.0)[0].state is EJ
    assert panic_candidates([draining()], 1.0) == ()


def test_expired_ejection_is_selectable_so_no_panic():
    assert panic_candidates(model("e", "c"), 5.0) == ()


def test_retired_nodes_are_never_panic_candidates():
    assert panic_candidates([retired(), down_by_check()], 1.0)[0].state is EJ
    assert panic_candidates([retired()], 1.0) == ()
