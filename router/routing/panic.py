"""Panic mode: which nodes to try anyway when none of a model's nodes is selectable.

Rather than refuse all of a model's traffic, every node that is out for a reason a request
could disprove (unproven, ejected, probing) is tried anyway, least recently failed first;
draining, disabled and retired nodes never are. Pure, like router.routing.health, whose
records and selectable rule it reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from router.routing.health import NodeHealth, NodeState

_NEVER_IN_PANIC = frozenset({NodeState.DRAINING, NodeState.DISABLED, NodeState.RETIRED})


def panic_candidates(records: Iterable[NodeHealth], now: float) -> tuple[NodeHealth, ...]:
    """Nodes to try anyway when none of a model's nodes is selectable, least recently failed first.

    Empty if some node is selectable but for its load (no panic: full nodes mean 503). An
    unproven node counts like an ejected one, so a node whose probe has not succeeded yet
    (or never will) is tried at once. Draining, disabled and retired nodes are never
    candidates: the operator asked for no traffic, a wrong key will fail every time, and a
    retired node is no longer configured.
    """
    nodes = list(records)
    if any(r.is_selectable(now, has_room=True) for r in nodes):
        return ()
    usable = [r for r in nodes if r.state not in _NEVER_IN_PANIC]
    # Never failed sorts first; ties keep the caller's order (sorted is stable).
    return tuple(
        sorted(usable, key=lambda r: (r.last_failure_at is not None, r.last_failure_at or 0.0))
    )
