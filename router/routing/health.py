"""Per-node health: a state machine written as a table, with no I/O and no clock.

Everything that changes a node's state lives in this module, including what another
replica's decision may change here, and the one rule that says whether a node may take a
new request:

    selectable  = state is healthy, or probing with its one trial slot free,
                  and the node has room (fewer requests in flight than its max_inflight)

Room is load, not health: the caller passes it in (`is_selectable(now, has_room=...)`).
Everything else is the state: a node drained, disabled, ejected, waiting for its first
probe or removed from routes.yaml (retired) is not selectable whatever its load. The
balancer, the retry path and panic mode (router.routing.panic) all ask this rule; none
keeps a flag beside it.

The transitions:

    state     event              next      when (the guard, checked by the NodeHealth method)
    --------  -----------------  --------  ---------------------------------------------------
    unproven  PROBE_SUCCEEDED    healthy   the first successful probe (a node with active
                                           checks starts here: configured, not yet shown to
                                           answer; one success is enough, as before, so a
                                           new node serves within one probe)
    unproven  PROBE_FAILED       ejected   `unhealthy_threshold` probe failures in a row
                                           (reason health_check, no end time)
    unproven  CHECKS_DISABLED    healthy   a reload turned its checks off (`health: false`)
    healthy   REQUEST_FAILED     ejected   `consecutive_failures` failed requests in a row and
                                           the caller says the model's max_percent allows it
    healthy   PROBE_FAILED       ejected   `unhealthy_threshold` probe failures in a row
                                           (reason health_check, no end time)
    ejected   EJECTION_EXPIRED   probing   a passive ejection's end time has passed
    ejected   PROBE_SUCCEEDED    healthy   `healthy_threshold` probe successes in a row
                                           (ends a passive ejection early too, as in Envoy)
    probing   REQUEST_SUCCEEDED  healthy   the one trial request succeeded
    probing   PROBE_SUCCEEDED    healthy   a probe settles a probing node like the trial would
    probing   REQUEST_FAILED     ejected   the trial failed: ejected again, for longer
    probing   PROBE_FAILED       ejected   (likewise)
    disabled  PROBE_SUCCEEDED    healthy   one probe sent with the node's key succeeded
    unproven, healthy, ejected, probing
              AUTH_FAILED        disabled  a 401 (a 401/403 on a probe): our key is wrong
    any but retired
              DRAIN              draining  operator: no new requests, in-flight ones finish
    any but retired
              ENABLE             healthy   operator
    any but retired
              RETIRE             retired   a reload removed the node (or changed its URL or
                                           key: a new record serves under the name). Its
                                           requests in flight finish; nothing leaves retired

Moves decided by another replica sharing Redis (`router.upstream.peers` turns each message
kind into one of these events; only the table says whether it applies):

    healthy, probing
              PEER_EJECTED       ejected   passively ejected there; ends at the same time.
                                           An unproven node is out already and waits for its
                                           own probe; ejected, draining, disabled keep theirs
    unproven, healthy, ejected, probing
              PEER_DISABLED      disabled  disabled there (the key is shared)
    any but draining, retired
              PEER_DRAIN         draining  an operator drained it there
    draining  PEER_ENABLE        healthy   an operator enabled it there; only a drain is
                                           undone, so a replica's own ejection or disable
                                           is not overruled by a peer's enable

A passive ejection lasts `base_seconds x ejections in a row`, capped at `max_seconds`. Every
move resets the streak counters, and reaching healthy also resets the ejection count, so a
node that recovers starts again from `base_seconds`.

Observations that match no row only update counters. That is deliberate: a success arriving
at an ejected node belongs to a request sent before the ejection and says nothing about now,
a request answered by an unproven node (in panic mode) does not replace its probe, and a
draining or disabled node is left to the operator or a probe. Only a pair missing from the
table raises `IllegalTransition`, and the methods never produce one, so it means a bug.

Expiry is lazy: nobody has to wake up when an ejection ends. Queries (`state_at`,
`is_selectable`) report an expired ejection as probing without changing anything; the next
mutating call with `now` records the EJECTION_EXPIRED move. That is why mutating methods
return a tuple of transitions (zero, one or two) for the caller to log and count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from router.config.model import Ejection, HealthCheck, NodeConfig


class NodeState(StrEnum):
    HEALTHY = "healthy"
    EJECTED = "ejected"
    PROBING = "probing"
    DRAINING = "draining"
    DISABLED = "disabled"
    UNPROVEN = "unproven"  # active checks on, no probe has succeeded yet
    RETIRED = "retired"  # no longer in routes.yaml; its requests in flight finish


class Event(StrEnum):
    REQUEST_SUCCEEDED = "request_succeeded"
    REQUEST_FAILED = "request_failed"
    AUTH_FAILED = "auth_failed"
    PROBE_SUCCEEDED = "probe_succeeded"
    PROBE_FAILED = "probe_failed"
    EJECTION_EXPIRED = "ejection_expired"
    DRAIN = "drain"
    ENABLE = "enable"
    CHECKS_DISABLED = "checks_disabled"
    PEER_EJECTED = "peer_ejected"
    PEER_DISABLED = "peer_disabled"
    PEER_DRAIN = "peer_drain"
    PEER_ENABLE = "peer_enable"
    RETIRE = "retire"


class Reason(StrEnum):
    """Why a node is out of rotation (None while healthy)."""

    FAILURES = "failures"  # passive: failed requests in a row, or a failed trial
    HEALTH_CHECK = "health_check"
    AUTH = "auth"
    OPERATOR = "operator"


_S, _E = NodeState, Event

_MAY_DISABLE = (_S.UNPROVEN, _S.HEALTHY, _S.EJECTED, _S.PROBING)
_CONFIGURED = tuple(s for s in NodeState if s is not _S.RETIRED)

TRANSITIONS: Mapping[tuple[NodeState, Event], NodeState] = MappingProxyType(
    {
        (_S.UNPROVEN, _E.PROBE_SUCCEEDED): _S.HEALTHY,
        (_S.UNPROVEN, _E.PROBE_FAILED): _S.EJECTED,
        (_S.UNPROVEN, _E.CHECKS_DISABLED): _S.HEALTHY,
        (_S.HEALTHY, _E.REQUEST_FAILED): _S.EJECTED,
        (_S.HEALTHY, _E.PROBE_FAILED): _S.EJECTED,
        (_S.EJECTED, _E.EJECTION_EXPIRED): _S.PROBING,
        (_S.EJECTED, _E.PROBE_SUCCEEDED): _S.HEALTHY,
        (_S.PROBING, _E.REQUEST_SUCCEEDED): _S.HEALTHY,
        (_S.PROBING, _E.PROBE_SUCCEEDED): _S.HEALTHY,
        (_S.PROBING, _E.REQUEST_FAILED): _S.EJECTED,
        (_S.PROBING, _E.PROBE_FAILED): _S.EJECTED,
        (_S.DISABLED, _E.PROBE_SUCCEEDED): _S.HEALTHY,
        **{(s, _E.AUTH_FAILED): _S.DISABLED for s in _MAY_DISABLE},
        **{(s, _E.DRAIN): _S.DRAINING for s in _CONFIGURED},
        **{(s, _E.ENABLE): _S.HEALTHY for s in _CONFIGURED},
        **{(s, _E.RETIRE): _S.RETIRED for s in _CONFIGURED},
        # Decided by another replica (see the second table above).
        (_S.HEALTHY, _E.PEER_EJECTED): _S.EJECTED,
        (_S.PROBING, _E.PEER_EJECTED): _S.EJECTED,
        **{(s, _E.PEER_DISABLED): _S.DISABLED for s in _MAY_DISABLE},
        **{(s, _E.PEER_DRAIN): _S.DRAINING for s in _CONFIGURED if s is not _S.DRAINING},
        (_S.DRAINING, _E.PEER_ENABLE): _S.HEALTHY,
    }
)


class IllegalTransition(RuntimeError):
    """An event the table does not allow in the node's current state (a bug, not bad input)."""


def next_state(state: NodeState, event: Event) -> NodeState:
    """Where `event` takes a node in `state`; raises IllegalTransition if the table forbids it."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"{event} is not allowed in state {state}") from None


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for the caller to log and turn into metrics."""

    node: str
    old: NodeState
    new: NodeState
    event: Event
    reason: Reason | None
    at: float
    until: float | None = None  # end of a passive ejection


Changes: TypeAlias = tuple[Transition, ...]


@dataclass(slots=True)
class NodeHealth:
    """The health record of one node. Mutable, but every input (including `now`) is passed in."""

    name: str
    check: HealthCheck
    ejection: Ejection
    state: NodeState = NodeState.HEALTHY
    reason: Reason | None = None
    ejected_until: float | None = None  # None unless passively ejected
    failures: int = 0  # failed requests in a row
    probe_successes: int = 0  # in a row
    probe_failures: int = 0  # in a row
    ejections: int = 0  # passive ejections in a row; sets the next ejection's length
    trial_in_flight: bool = False
    last_failure_at: float | None = None
    changed_at: float = 0.0

    @classmethod
    def for_node(cls, node: NodeConfig, now: float = 0.0) -> NodeHealth:
        """A fresh record: unproven with active checks on, else healthy."""
        state = NodeState.UNPROVEN if node.health.enabled else NodeState.HEALTHY
        return cls(node.name, node.health, node.ejection, state=state, changed_at=now)

    # Queries: never change anything.

    def state_at(self, now: float) -> NodeState:
        """The state as of `now`, counting an expired ejection as probing."""
        return NodeState.PROBING if self._is_expired(now) else self.state

    def is_selectable(self, now: float, *, has_room: bool) -> bool:
        """Whether a new request may go here (the rule at the top of this module)."""
        state = self.state_at(now)
        return has_room and (
            state is NodeState.HEALTHY or (state is NodeState.PROBING and not self.trial_in_flight)
        )

    def needs_trial(self, now: float) -> bool:
        """Whether a request sent now would be the probing node's one trial (take it first)."""
        return self.state_at(now) is NodeState.PROBING and not self.trial_in_flight

    @property
    def is_passively_ejected(self) -> bool:
        """Out of rotation because of failed requests (what max_percent limits)."""
        return self.state is NodeState.PROBING or (
            self.state is NodeState.EJECTED and self.ejected_until is not None
        )

    # Trial bookkeeping: while probing, exactly one request is let through.

    def take_trial(self, now: float) -> Changes:
        """Claim the trial slot for a request about to be sent; raises if there is none."""
        if not self.needs_trial(now):
            raise IllegalTransition(f"{self.name}: no trial slot in state {self.state}")
        changes = self._expire(now)
        self.trial_in_flight = True
        return changes

    def release_trial(self) -> None:
        """Free the slot when the trial ended without a verdict (e.g. the client went away)."""
        self.trial_in_flight = False

    # Observations.

    def record_success(self, now: float) -> Changes:
        """A request got a response showing the node works."""
        changes = self._expire(now)
        if self.state is NodeState.PROBING:
            return changes + self._move(Event.REQUEST_SUCCEEDED, now)
        if self.state is NodeState.HEALTHY:
            self.failures = 0
        return changes

    def record_failure(self, now: float, *, allow_eject: bool = True) -> Changes:
        """A request failed (connect error, timeout, 5xx); non-empty result = now ejected.

        `allow_eject` is `may_eject(...)` over the node's model. A failed trial ejects the
        node again regardless: it is already counted as ejected.
        """
        changes = self._expire(now)
        self.last_failure_at = now
        if self.state is NodeState.PROBING:
            return changes + self._eject(Event.REQUEST_FAILED, now)
        if self.state is not NodeState.HEALTHY:
            return changes
        self.failures += 1
        if allow_eject and self.failures >= self.ejection.consecutive_failures:
            return changes + self._eject(Event.REQUEST_FAILED, now)
        return changes

    def record_auth_failure(self, now: float) -> Changes:
        """A 401 (or a refused probe): disabled until a probe with its key succeeds or it
        is enabled."""
        changes = self._expire(now)
        self.last_failure_at = now
        if (self.state, Event.AUTH_FAILED) in TRANSITIONS:
            return changes + self._move(Event.AUTH_FAILED, now, reason=Reason.AUTH)
        return changes  # draining stays draining: the operator's word wins

    def record_probe(self, ok: bool, now: float) -> Changes:
        """The result of one active health probe."""
        changes = self._expire(now)
        if ok:
            self.probe_successes, self.probe_failures = self.probe_successes + 1, 0
        else:
            self.probe_successes, self.probe_failures = 0, self.probe_failures + 1
            self.last_failure_at = now
        state = self.state
        if state is NodeState.PROBING:
            if ok:
                return changes + self._move(Event.PROBE_SUCCEEDED, now)
            return changes + self._eject(Event.PROBE_FAILED, now)
        if ok and state in (NodeState.UNPROVEN, NodeState.DISABLED):  # one success is enough
            return changes + self._move(Event.PROBE_SUCCEEDED, now)
        if (
            state in (NodeState.UNPROVEN, NodeState.HEALTHY)
            and self.probe_failures >= self.check.unhealthy_threshold
        ):
            return changes + self._move(Event.PROBE_FAILED, now, reason=Reason.HEALTH_CHECK)
        if state is NodeState.EJECTED and self.probe_successes >= self.check.healthy_threshold:
            return changes + self._move(Event.PROBE_SUCCEEDED, now)
        return changes

    def adopt_ejection(self, until: float, count: int, now: float) -> Changes:
        """Another replica ejected this node until `until` (its `count`-th ejection)."""
        changes = self._expire(now)
        if until <= now or (self.state, Event.PEER_EJECTED) not in TRANSITIONS:
            return changes
        changes += self._move(Event.PEER_EJECTED, now, reason=Reason.FAILURES, until=until)
        self.ejections = max(self.ejections, count)  # the next ejection here grows from there
        return changes

    def follow_peer(self, event: Event, now: float) -> Changes:
        """Another replica disabled, drained or enabled this node; the table says if it applies."""
        changes = self._expire(now)
        if (self.state, event) not in TRANSITIONS or event not in _PEER_REASONS:
            return changes
        if event is Event.PEER_DISABLED:
            self.last_failure_at = now
        return changes + self._move(event, now, reason=_PEER_REASONS[event])

    def stop_checks(self, now: float) -> Changes:
        """Active checks were turned off: a node waiting for its first probe serves now."""
        if self.check.enabled or self.state is not NodeState.UNPROVEN:
            return ()
        return self._move(Event.CHECKS_DISABLED, now)

    # Operator actions, legal from any state.

    def drain(self, now: float) -> Changes:
        """Take no new requests; in-flight ones finish."""
        return self._move(Event.DRAIN, now, reason=Reason.OPERATOR)

    def enable(self, now: float) -> Changes:
        """Back to healthy with every counter reset."""
        return self._move(Event.ENABLE, now)

    # Configuration.

    def retire(self, now: float) -> Changes:
        """The node left routes.yaml: never selectable again, whatever happens next."""
        return self._move(Event.RETIRE, now)

    # The only code that changes `state`.

    def _is_expired(self, now: float) -> bool:
        return (
            self.state is NodeState.EJECTED
            and self.ejected_until is not None
            and now >= self.ejected_until
        )

    def _expire(self, now: float) -> Changes:
        if not self._is_expired(now):
            return ()
        return self._move(Event.EJECTION_EXPIRED, now, reason=self.reason)

    def _eject(self, event: Event, now: float) -> Changes:
        count = self.ejections + 1
        seconds = min(self.ejection.base_seconds * count, self.ejection.max_seconds)
        changes = self._move(event, now, reason=Reason.FAILURES, until=now + seconds)
        self.ejections = count
        return changes

    def _move(
        self, event: Event, now: float, *, reason: Reason | None = None, until: float | None = None
    ) -> Changes:
        new = next_state(self.state, event)  # raises before anything is changed
        old = self.state
        self.state, self.reason, self.ejected_until = new, reason, until
        self.failures = self.probe_successes = self.probe_failures = 0
        self.trial_in_flight = False
        if new is NodeState.HEALTHY:
            self.ejections = 0
        if new is old:
            return ()  # enable on healthy, drain on draining: counters reset, nothing to log
        self.changed_at = now
        return (Transition(self.name, old, new, event, reason, now, until),)


_PEER_REASONS: Mapping[Event, Reason | None] = MappingProxyType(
    {Event.PEER_DISABLED: Reason.AUTH, Event.PEER_DRAIN: Reason.OPERATOR, Event.PEER_ENABLE: None}
)


def may_eject(records: Iterable[NodeHealth], max_percent: float) -> bool:
    """Whether one more of a model's nodes (`records`, all of them) may be passively ejected."""
    nodes = list(records)
    ejected = sum(1 for r in nodes if r.is_passively_ejected)
    # Multiplied out rather than divided, so 1 of 2 nodes at 50% is exactly allowed.
    return (ejected + 1) * 100 <= max_percent * len(nodes)
