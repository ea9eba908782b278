"""Tables for the node health state machine; no event loop, no clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from router.config.model import Ejection, HealthCheck, NodeConfig
from router.routing.health import (
    TRANSITIONS,
    Event,
    IllegalTransition,
    NodeHealth,
    NodeState,
    Reason,
    Transition,
    may_eject,
    next_state,
    panic_candidates,
)

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


BUILDERS: dict[NodeState, Callable[[], NodeHealth]] = {
    H: healthy,
    EJ: ejected,
    PR: probing,
    DR: draining,
    DI: disabled,
    UN: unproven,
}


@pytest.mark.parametrize("name,build,state,reason", [
    ("healthy", healthy, H, None),
    ("ejected", ejected, EJ, Reason.FAILURES),
    ("down by check", down_by_check, EJ, Reason.HEALTH_CHECK),
    ("probing", probing, PR, Reason.FAILURES),
    ("draining", draining, DR, Reason.OPERATOR),
    ("disabled", disabled, DI, Reason.AUTH),
    ("unproven", unproven, UN, None),
])  # fmt: skip
def test_builders(name, build, state, reason):
    node = build()
    assert (node.state, node.reason) == (state, reason), name


# --- the table itself --------------------------------------------------------------------


@pytest.mark.parametrize("pair,expected", sorted(TRANSITIONS.items()))
def test_next_state_follows_table(pair, expected):
    assert next_state(*pair) is expected


ILLEGAL = sorted(set(itertools.product(NodeState, Event)) - set(TRANSITIONS))


@pytest.mark.parametrize("state,event", ILLEGAL)
def test_pairs_missing_from_table_raise(state, event):
    with pytest.raises(IllegalTransition):
        next_state(state, event)


def test_illegal_list_is_not_empty():
    assert (H, Event.EJECTION_EXPIRED) in ILLEGAL
    assert (DR, Event.AUTH_FAILED) in ILLEGAL


# --- every legal transition, driven through NodeHealth's methods ------------------------
# (builder, action at t, expected transitions as (old, new, event)); t=6 is after the
# passive ejection built above (t=0..5) has ended.

CASES: list[tuple[str, Callable[[], NodeHealth], Callable[[NodeHealth], object], list]] = [
    ("healthy: 3rd failure ejects", healthy, lambda n: fail_requests(n, 1.0),
     [(H, EJ, Event.REQUEST_FAILED)]),
    ("healthy: 3rd probe failure", healthy, lambda n: probe(n, "---", 1.0),
     [(H, EJ, Event.PROBE_FAILED)]),
    ("healthy: 401", healthy, lambda n: n.record_auth_failure(1.0),
     [(H, DI, Event.AUTH_FAILED)]),
    ("healthy: drain", healthy, lambda n: n.drain(1.0), [(H, DR, Event.DRAIN)]),
    ("healthy: enable is a no-op move", healthy, lambda n: n.enable(1.0), []),
    ("ejected: expiry on take_trial", ejected, lambda n: n.take_trial(6.0),
     [(EJ, PR, Event.EJECTION_EXPIRED)]),
    ("ejected: late success after expiry is the trial", ejected,
     lambda n: n.record_success(6.0),
     [(EJ, PR, Event.EJECTION_EXPIRED), (PR, H, Event.REQUEST_SUCCEEDED)]),
    ("down by check: 2 probe successes", down_by_check, lambda n: probe(n, "++", 1.0),
     [(EJ, H, Event.PROBE_SUCCEEDED)]),
    ("ejected: 401", ejected, lambda n: n.record_auth_failure(1.0),
     [(EJ, DI, Event.AUTH_FAILED)]),
    ("ejected: drain", ejected, lambda n: n.drain(1.0), [(EJ, DR, Event.DRAIN)]),
    ("ejected: enable", ejected, lambda n: n.enable(1.0), [(EJ, H, Event.ENABLE)]),
    ("probing: trial succeeds", probing, lambda n: n.record_success(6.0),
     [(PR, H, Event.REQUEST_SUCCEEDED)]),
    ("probing: probe succeeds", probing, lambda n: n.record_probe(True, 6.0),
     [(PR, H, Event.PROBE_SUCCEEDED)]),
    ("probing: trial fails", probing, lambda n: n.record_failure(6.0),
     [(PR, EJ, Event.REQUEST_FAILED)]),
    ("probing: probe fails", probing, lambda n: n.record_probe(False, 6.0),
     [(PR, EJ, Event.PROBE_FAILED)]),
    ("probing: 401", probing, lambda n: n.record_auth_failure(6.0),
     [(PR, DI, Event.AUTH_FAILED)]),
    ("probing: drain", probing, lambda n: n.drain(6.0), [(PR, DR, Event.DRAIN)]),
    ("probing: enable", probing, lambda n: n.enable(6.0), [(PR, H, Event.ENABLE)]),
    ("draining: drain again", draining, lambda n: n.drain(1.0), []),
    ("draining: enable", draining, lambda n: n.enable(1.0), [(DR, H, Event.ENABLE)]),
    ("disabled: probe succeeds", disabled, lambda n: n.record_probe(True, 1.0),
     [(DI, H, Event.PROBE_SUCCEEDED)]),
    ("disabled: drain", disabled, lambda n: n.drain(1.0), [(DI, DR, Event.DRAIN)]),
    ("disabled: enable", disabled, lambda n: n.enable(1.0), [(DI, H, Event.ENABLE)]),
    ("healthy: a peer ejected it", healthy, lambda n: n.adopt_ejection(30.0, 1, 1.0),
     [(H, EJ, Event.PEER_EJECTED)]),
    ("probing: a peer ejected it", probing, lambda n: n.adopt_ejection(30.0, 2, 6.0),
     [(PR, EJ, Event.PEER_EJECTED)]),
    ("unproven: the first probe success", unproven, lambda n: probe(n, "+", 1.0),
     [(UN, H, Event.PROBE_SUCCEEDED)]),
    ("unproven: 3rd probe failure", unproven, lambda n: probe(n, "---", 1.0),
     [(UN, EJ, Event.PROBE_FAILED)]),
    ("unproven: a success after failures", unproven, lambda n: probe(n, "--+", 1.0),
     [(UN, H, Event.PROBE_SUCCEEDED)]),
    ("unproven: 401 in panic mode", unproven, lambda n: n.record_auth_failure(1.0),
     [(UN, DI, Event.AUTH_FAILED)]),
    ("unproven: drain", unproven, lambda n: n.drain(1.0), [(UN, DR, Event.DRAIN)]),
    ("unproven: enable", unproven, lambda n: n.enable(1.0), [(UN, H, Event.ENABLE)]),
    ("unproven: checks turned off", checks_off(unproven), lambda n: n.stop_checks(1.0),
     [(UN, H, Event.CHECKS_DISABLED)]),
    ("draining: a peer enabled it", draining, lambda n: n.follow_peer(Event.PEER_ENABLE, 1.0),
     [(DR, H, Event.PEER_ENABLE)]),
    *[(f"{state}: a peer disabled it", BUILDERS[state],
       lambda n: n.follow_peer(Event.PEER_DISABLED, 6.0), [(state, DI, Event.PEER_DISABLED)])
      for state in (UN, H, PR)],
    ("ejected: a peer disabled it", ejected, lambda n: n.follow_peer(Event.PEER_DISABLED, 1.0),
     [(EJ, DI, Event.PEER_DISABLED)]),
    *[(f"{state}: a peer drained it", BUILDERS[state],
       lambda n: n.follow_peer(Event.PEER_DRAIN, 1.0), [(state, DR, Event.PEER_DRAIN)])
      for state in (UN, H, EJ, DI)],
    ("probing: a peer drained it", probing, lambda n: n.follow_peer(Event.PEER_DRAIN, 6.0),
     [(PR, DR, Event.PEER_DRAIN)]),
]  # fmt: skip


class _Recorder:
    """Forwards calls to a NodeHealth and keeps the transitions its methods return."""

    def __init__(self, node: NodeHealth) -> None:
        self.node, self.seen = node, []

    def __getattr__(self, name: str):
        method = getattr(self.node, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            self.seen.extend(result or ())
            return result

        return call


@pytest.mark.parametrize("name,build,action,expected", CASES, ids=[c[0] for c in CASES])
def test_legal_transitions_through_methods(name, build, action, expected):
    recorder = _Recorder(build())
    action(recorder)
    assert [(t.old, t.new, t.event) for t in recorder.seen] == expected


def test_cases_cover_every_moving_row_of_the_table():
    covered = {(old, event) for *_, moves in CASES for old, _, event in moves}
    moving = {pair for pair, new in TRANSITIONS.items() if new is not pair[0]}
    assert moving <= covered


# --- observations that match no row only update counters ---------------------------------


@pytest.mark.parametrize("name,build,action,state", [
    ("late success does not end an ejection", ejected, lambda n: n.record_success(1.0), EJ),
    ("late failure does not extend it", ejected, lambda n: n.record_failure(1.0), EJ),
    ("one probe success is not enough to end an ejection", ejected,
     lambda n: probe(n, "+", 1.0), EJ),
    ("draining ignores failures", draining, lambda n: fail_requests(n, 1.0, 5), DR),
    ("draining ignores 401", draining, lambda n: n.record_auth_failure(1.0), DR),
    ("disabled ignores a failed probe", disabled, lambda n: n.record_probe(False, 1.0), DI),
    ("disabled ignores requests", disabled, lambda n: n.record_success(1.0), DI),
    ("down by check ignores time", down_by_check, lambda n: n.record_success(1e9), EJ),
    ("unproven: 2 probe failures are not enough", unproven, lambda n: probe(n, "--", 1.0), UN),
    ("unproven: a request answered in panic mode is not a probe", unproven,
     lambda n: n.record_success(1.0), UN),
    ("unproven: failed requests do not eject it", unproven, lambda n: fail_requests(n, 1.0), UN),
    ("unproven: a peer's ejection waits for our probe", unproven,
     lambda n: n.adopt_ejection(30.0, 1, 1.0), UN),
    ("unproven: checks still on", unproven, lambda n: n.stop_checks(1.0), UN),
    ("healthy: stop_checks only ends unproven", checks_off(healthy),
     lambda n: n.stop_checks(1.0), H),
    ("draining: a peer's drain again", draining,
     lambda n: n.follow_peer(Event.PEER_DRAIN, 1.0), DR),
    ("draining: a peer's 401", draining, lambda n: n.follow_peer(Event.PEER_DISABLED, 1.0), DR),
    ("disabled: a peer's 401 again", disabled,
     lambda n: n.follow_peer(Event.PEER_DISABLED, 1.0), DI),
    *[(f"{state}: a peer's enable undoes only a drain", BUILDERS[state],
       lambda n: n.follow_peer(Event.PEER_ENABLE, 1.0), state) for state in (UN, EJ, DI)],
    ("not a peer event", healthy, lambda n: n.follow_peer(Event.REQUEST_FAILED, 1.0), H),
])  # fmt: skip
def test_unmatched_observations_keep_state(name, build, action, state):
    node = build()
    action(node)
    assert node.state is state, name


def test_peer_moves_carry_reasons():
    drained, disabled_there = healthy(), healthy()
    drained.follow_peer(Event.PEER_DRAIN, 1.0)
    disabled_there.follow_peer(Event.PEER_DISABLED, 2.0)
    assert (drained.reason, disabled_there.reason) == (Reason.OPERATOR, Reason.AUTH)
    assert disabled_there.last_failure_at == 2.0
    drained.follow_peer(Event.PEER_ENABLE, 3.0)
    assert (drained.state, drained.reason) == (H, None)


def test_unproven_is_not_selectable_and_down_by_check_after_threshold():
    node = unproven()
    assert not node.is_selectable(0.0) and not node.needs_trial(0.0)
    assert not node.is_passively_ejected  # max_percent limits passive ejections only
    probe(node, "---", 1.0)
    assert (node.state, node.reason, node.ejected_until) == (EJ, Reason.HEALTH_CHECK, None)
    probe(node, "+", 2.0)
    assert node.state is EJ  # proven down: back after healthy_threshold successes only


def test_late_failure_keeps_the_end_time():
    node = ejected()
    node.record_failure(4.0)
    assert node.ejected_until == 5.0
    assert node.last_failure_at == 4.0


# --- passive ejection --------------------------------------------------------------------


@pytest.mark.parametrize("outcomes,state", [
    ("--", H),
    ("---", EJ),
    ("--+-", H),  # a success breaks the streak
    ("--+---", EJ),
])  # fmt: skip
def test_consecutive_failures(outcomes, state):
    node = fresh()
    for ch in outcomes:
        if ch == "+":
            node.record_success(0.0)
        else:
            node.record_failure(0.0)
    assert node.state is state


@pytest.mark.parametrize("ejection_number,seconds", [(1, 5.0), (2, 10.0), (3, 12.0), (4, 12.0)])
def test_ejection_grows_base_times_n_and_caps(ejection_number, seconds):
    node = fresh()
    now = 100.0
    fail_requests(node, now)
    for _ in range(ejection_number - 1):
        assert node.ejected_until is not None
        now = node.ejected_until
        node.take_trial(now)
        node.record_failure(now)
    assert node.ejections == ejection_number
    assert node.ejected_until == now + seconds


def test_record_failure_reports_the_ejection():
    node = fresh()
    assert node.record_failure(1.0) == ()
    assert node.record_failure(1.0) == ()
    (t,) = node.record_failure(1.0)
    assert t == Transition("n1", H, EJ, Event.REQUEST_FAILED, Reason.FAILURES, 1.0, 6.0)


def test_ejection_refused_by_max_percent_keeps_node_in_rotation():
    node = fresh()
    for _ in range(5):
        assert node.record_failure(1.0, allow_eject=False) == ()
    assert node.state is H
    assert node.is_selectable(1.0)
    assert node.record_failure(1.0)  # allowed again: the streak is still there


def test_probing_lets_exactly_one_request_through():
    node = ejected()
    assert not node.is_selectable(4.9)
    assert node.state_at(5.0) is PR
    assert node.state is EJ  # queries never change anything
    assert node.is_selectable(5.0) and node.needs_trial(5.0)
    node.take_trial(5.0)
    assert not node.is_selectable(5.0)
    with pytest.raises(IllegalTransition):
        node.take_trial(5.0)
    node.release_trial()  # the trial ended without a verdict
    assert node.is_selectable(5.0)


def test_take_trial_on_healthy_raises():
    with pytest.raises(IllegalTransition):
        fresh().take_trial(0.0)


def test_trial_success_restores_and_resets_the_count():
    node = ejected()
    node.take_trial(5.0)
    node.record_failure(5.0)  # second ejection: 10 s
    assert (node.ejections, node.ejected_until) == (2, 15.0)
    node.take_trial(15.0)
    node.record_success(15.0)
    assert (node.state, node.ejections, node.reason, node.ejected_until) == (H, 0, None, None)
    fail_requests(node, 20.0)
    assert node.ejected_until == 25.0  # back to base_seconds


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [healthy, ejected, probing])
def test_auth_failure_disables_until_a_probe_succeeds(build):
    node = build()
    node.record_auth_failure(6.0)
    assert (node.state, node.reason) == (DI, Reason.AUTH)
    assert not node.is_selectable(1e9)  # time alone never re-enables
    node.record_probe(False, 7.0)
    assert node.state is DI
    node.record_probe(True, 8.0)
    assert node.state is H


# --- active checks ------------------------------------------------------------------------


@pytest.mark.parametrize("probes,state,reason", [
    ("--", H, None),
    ("---", EJ, Reason.HEALTH_CHECK),
    ("-+--", H, None),  # a success breaks the streak
    ("---+", EJ, Reason.HEALTH_CHECK),
    ("---++", H, None),
    ("---+-+", EJ, Reason.HEALTH_CHECK),
    ("---+-++", H, None),
])  # fmt: skip
def test_active_thresholds(probes, state, reason):
    node = fresh()
    probe(node, probes, 0.0)
    assert (node.state, node.reason) == (state, reason)


def test_down_by_check_has_no_end_time():
    node = down_by_check()
    assert node.ejected_until is None
    assert not node.is_passively_ejected
    assert node.state_at(1e9) is EJ and not node.is_selectable(1e9)


# --- operator -----------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(NodeState))
def test_drain_from_any_state(state):
    node = BUILDERS[state]()
    node.drain(6.0)
    assert node.state is DR and not node.is_selectable(6.0)


@pytest.mark.parametrize("state", list(NodeState))
def test_enable_from_any_state_resets_counters(state):
    node = BUILDERS[state]()
    node.record_failure(6.0)
    node.enable(7.0)
    assert node.is_selectable(7.0)
    assert (node.state, node.reason, node.ejected_until, node.trial_in_flight) == (
        H,
        None,
        None,
        False,
    )
    assert (node.failures, node.ejections, node.probe_failures, node.probe_successes) == (
        0,
        0,
        0,
        0,
    )


def test_for_node_takes_the_node_config():
    cfg = NodeConfig("gpu-1", "http://x", health=CHECK, ejection=EJECTION)
    node = NodeHealth.for_node(cfg, now=3.0)
    assert (node.name, node.check, node.ejection, node.changed_at) == (
        "gpu-1",
        CHECK,
        EJECTION,
        3.0,
    )


@pytest.mark.parametrize("check,state", [
    (HealthCheck(), UN),  # active checks on: not proven until a probe succeeds
    (HealthCheck(enabled=False), H),  # nothing will prove it: serves at once
])  # fmt: skip
def test_for_node_starts_unproven_only_with_active_checks(check, state):
    assert NodeHealth.for_node(NodeConfig("n", "http://x", health=check)).state is state


# --- max_percent --------------------------------------------------------------------------


def model(*states: str) -> list[NodeHealth]:
    """Nodes by letter: h healthy, e passively ejected, c down by check, p probing, d disabled,
    u unproven."""
    build = {
        "h": healthy,
        "e": ejected,
        "c": down_by_check,
        "p": probing,
        "d": disabled,
        "u": unproven,
    }
    return [build[s]() for s in states]


@pytest.mark.parametrize("states,max_percent,allowed", [
    ("hh", 50.0, True),  # 1 of 2 = 50%
    ("eh", 50.0, False),  # 2 of 2 > 50%
    ("phhh", 50.0, True),  # probing counts as ejected: 2 of 4
    ("pehh", 50.0, False),
    ("cchh", 50.0, True),  # health-check and auth downs are not passive ejections
    ("ddh", 50.0, True),  # 1 of 3 = 33%
    ("h", 50.0, False),  # never eject a model's only node below 100%
    ("h", 100.0, True),
    ("hhhhhhhhhh", 10.0, True),
    ("ehhhhhhhhh", 10.0, False),
    ("", 100.0, False),
])  # fmt: skip
def test_may_eject(states, max_percent, allowed):
    assert may_eject(model(*states), max_percent) is allowed


# --- panic --------------------------------------------------------------------------------


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


# --- ejections shared by other replicas ---------------------------------------------------


def _shared_record() -> NodeHealth:
    from router.config.model import Ejection, HealthCheck

    return NodeHealth("n", HealthCheck(), Ejection(base_seconds=5, max_seconds=300))


def test_peer_ejection_takes_a_healthy_node_out_until_the_peers_time() -> None:
    record = _shared_record()
    (change,) = record.adopt_ejection(until=40.0, count=2, now=10.0)
    assert (change.old, change.new, change.event) == (
        NodeState.HEALTHY,
        NodeState.EJECTED,
        Event.PEER_EJECTED,
    )
    assert record.ejected_until == 40.0 and record.ejections == 2
    assert not record.is_selectable(39.9)
    assert record.is_selectable(40.0)  # probing: one trial, as after a local ejection


def test_peer_ejection_in_the_past_or_on_a_drained_node_changes_nothing() -> None:
    record = _shared_record()
    assert record.adopt_ejection(until=5.0, count=1, now=10.0) == ()
    record.drain(10.0)
    assert record.adopt_ejection(until=50.0, count=1, now=10.0) == ()
    assert record.state is NodeState.DRAINING


def test_next_local_ejection_grows_from_the_peer_count() -> None:
    record = _shared_record()
    record.adopt_ejection(until=20.0, count=3, now=10.0)
    record.take_trial(21.0)
    (change,) = record.record_failure(21.0)
    assert change.until == 21.0 + 5 * 4


def test_probe_successes_end_a_passive_ejection_early() -> None:
    """A restarted node is back after `healthy_threshold` probes, not after its ejection."""
    node = ejected()
    assert node.record_probe(True, 1.0) == ()
    changes = node.record_probe(True, 1.1)
    assert node.state is NodeState.HEALTHY and node.ejections == 0
    assert [(t.old, t.new, t.event) for t in changes] == [
        (NodeState.EJECTED, NodeState.HEALTHY, Event.PROBE_SUCCEEDED)
    ]
