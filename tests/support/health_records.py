"""Node health records in each state, built through NodeHealth's public methods only.

For the tables of tests/routing/ (the health state machine, panic mode). Times start at 0.
"""

from __future__ import annotations

from collections.abc import Callable

from router.config.model import Ejection, HealthCheck, NodeConfig
from router.routing.health import NodeHealth, NodeState

H, EJ, PR, DR, DI, UN = (
    NodeState.HEALTHY,
    NodeState.EJECTED,
    NodeState.PROBING,
    NodeState.DRAINING,
    NodeState.DISABLED,
    NodeState.UNPROVEN,
)

CHECK = HealthCheck(unhealthy_threshold=3, healthy_threshold=2)
EJECTION = Ejection(consecutive_failures=3, base_seconds=5.0, max_seconds=12.0, max_percent=50.0)


def fresh(name: str = "n1") -> NodeHealth:
    return NodeHealth(name, CHECK, EJECTION)


def fail_requests(node: NodeHealth, now: float, times: int = 3) -> None:
    for _ in range(times):
        node.record_failure(now)


def probe(node: NodeHealth, results: str, now: float) -> None:
    for ch in results:
        node.record_probe(ch == "+", now)


# Builders for a node in each state (at t=0), through the public API only.
def healthy() -> NodeHealth:
    return fresh()


def ejected() -> NodeHealth:  # passively: ends at t=5
    node = fresh()
    fail_requests(node, 0.0)
    return node


def down_by_check() -> NodeHealth:
    node = fresh()
    probe(node, "---", 0.0)
    return node


def probing() -> NodeHealth:  # ejection ended; trial taken at t=5 and still in flight
    node = ejected()
    node.take_trial(5.0)
    return node


def draining() -> NodeHealth:
    node = fresh()
    node.drain(0.0)
    return node


def disabled() -> NodeHealth:
    node = fresh()
    node.record_auth_failure(0.0)
    return node


def unproven() -> NodeHealth:  # active checks on, no probe answered yet
    return NodeHealth.for_node(NodeConfig("n1", "http://x", health=CHECK, ejection=EJECTION))


def checks_off(build: Callable[[], NodeHealth]) -> Callable[[], NodeHealth]:
    """The builder's node after a reload set `health: false` for it."""

    def built() -> NodeHealth:
        node = build()
        node.check = HealthCheck(enabled=False)
        return node

    return built


def retired() -> NodeHealth:  # removed from routes.yaml by a reload at t=1
    node = healthy()
    node.retire(1.0)
    return node


BUILDERS: dict[NodeState, Callable[[], NodeHealth]] = {
    H: healthy,
    EJ: ejected,
    PR: probing,
    DR: draining,
    DI: disabled,
    UN: unproven,
}


def model(*states: str) -> list[NodeHealth]:
    """Nodes by letter: h healthy, e passively ejected, c down by check, p probing, d disabled,
    u unproven,
    r retired."""
    build = {
        "h": healthy,
        "e": ejected,
        "c": down_by_check,
        "p": probing,
        "d": disabled,
        "u": unproven,
        "r": retired,
    }
    return [build[s]() for s in states]
