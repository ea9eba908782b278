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
)
from tests.support.health_records import (
    BUILDERS,
    CHECK,
    DI,
    DR,
    EJ,
    EJECTION,
    PR,
    UN,
    H,
    checks_off,
    disabled,
    down_by_check,
    draining,
    ejected,
    fail_requests,
    fresh,
    healthy,
    model,
    probe,
    probing,
    retired,
    unproven,
)


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
    *[(f"{state}: a reload removed it", build, lambda n: n.retire(6.0),
       [(state, NodeState.RETIRED, Event.RETIRE)])
      for state, build in BUILDERS.items() if state is not EJ],
    # an ejection that ended at t=5 is probing by t=6: it retires from there
    ("ejected: a reload removed it", down_by_check, lambda n: n.retire(6.0),
     [(EJ, NodeState.RETIRED, Event.RETIRE)]),
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
    assert not node.is_selectable(0.0, has_room=True) and not node.needs_trial(0.0)
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
    assert node.is_selectable(1.0, has_room=True)
    assert node.record_failure(1.0)  # allowed again: the streak is still there


def test_probing_lets_exactly_one_request_through():
    node = ejected()
    assert not node.is_selectable(4.9, has_room=True)
    assert node.state_at(5.0) is PR
    assert node.state is EJ  # queries never change anything
    assert node.is_selectable(5.0, has_room=True) and node.needs_trial(5.0)
    node.take_trial(5.0)
    assert not node.is_selectable(5.0, has_room=True)
    with pytest.raises(IllegalTransition):
        node.take_trial(5.0)
    node.release_trial()  # the trial ended without a verdict
    assert node.is_selectable(5.0, has_room=True)


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
    assert not node.is_selectable(1e9, has_room=True)  # time alone never re-enables
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
    assert node.state_at(1e9) is EJ and not node.is_selectable(1e9, has_room=True)


# --- operator -----------------------------------------------------------------------------


CONFIGURED = [s for s in NodeState if s is not NodeState.RETIRED]


@pytest.mark.parametrize("state", CONFIGURED)
def test_drain_from_any_state(state):
    node = BUILDERS[state]()
    node.drain(6.0)
    assert node.state is DR and not node.is_selectable(6.0, has_room=True)


@pytest.mark.parametrize("state", CONFIGURED)
def test_enable_from_any_state_resets_counters(state):
    node = BUILDERS[state]()
    node.record_failure(6.0)
    node.enable(7.0)
    assert node.is_selectable(7.0, has_room=True)
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


# --- the selectable rule: state, trial slot, room ---------------------------------------


@pytest.mark.parametrize("build,now,has_room,selectable", [
    (healthy, 6.0, True, True),
    (healthy, 6.0, False, False),  # full: room is the caller's input, not a flag beside the table
    (ejected, 6.0, True, True),  # the ejection ended at t=5: probing, its trial slot free
    (ejected, 6.0, False, False),
    (ejected, 1.0, True, False),
    (probing, 6.0, True, False),  # its trial is in flight
    (draining, 6.0, True, False),
    (disabled, 6.0, True, False),
    (unproven, 6.0, True, False),
    (retired, 6.0, True, False),
    (retired, 1e9, True, False),  # for good
])  # fmt: skip
def test_selectable_is_state_and_room(build, now, has_room, selectable):
    assert build().is_selectable(now, has_room=has_room) is selectable


@pytest.mark.parametrize("event", list(Event))
def test_nothing_leaves_retired(event):
    with pytest.raises(IllegalTransition):
        next_state(NodeState.RETIRED, event)


def test_requests_still_running_on_a_retired_node_change_nothing():
    node = retired()
    for observe in (
        lambda: node.record_success(2.0),
        lambda: node.record_failure(2.0),
        lambda: node.record_auth_failure(2.0),
        lambda: node.record_probe(False, 2.0),
        lambda: node.follow_peer(Event.PEER_DRAIN, 2.0),
        lambda: node.adopt_ejection(until=9.0, count=1, now=2.0),
    ):
        assert observe() == ()
    assert node.state is NodeState.RETIRED


# --- ejections shared by other replicas ---------------------------------------------------


def _shared_record() -> NodeHealth:
    from router.config.model import HealthCheck

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
    assert not record.is_selectable(39.9, has_room=True)
    assert record.is_selectable(
        40.0, has_room=True
    )  # probing: one trial, as after a local ejection


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
