"""Peer messages and admin actions are vocabularies; what they may change is the table's."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson
import pytest
import redis.asyncio as aioredis

from router.config.model import Ejection, HealthCheck, NodeConfig, StateConfig
from router.routing.health import TRANSITIONS, Event, NodeHealth, NodeState, Transition
from router.upstream.peers import PEER_EVENTS, ClusterSync, MessageKind
from router.web.admin import ACTIONS, AdminAction


def test_every_message_kind_maps_to_a_peer_event_or_to_nothing():
    assert set(PEER_EVENTS) == set(MessageKind)
    assert PEER_EVENTS[MessageKind.RECOVERED] is None  # judged by each replica's own probes
    events = {e for e in PEER_EVENTS.values() if e is not None}
    assert events == {e for e in Event if e.value.startswith("peer_")}


@pytest.mark.parametrize("kind", [k for k, e in PEER_EVENTS.items() if e is not None])
def test_every_peer_event_has_rows(kind):
    assert any(event is PEER_EVENTS[kind] for _, event in TRANSITIONS)


@pytest.mark.parametrize("kind,legal_from", [
    (MessageKind.DRAIN, set(NodeState) - {NodeState.DRAINING, NodeState.RETIRED}),
    (MessageKind.ENABLE, {NodeState.DRAINING}),
    (MessageKind.EJECTED, {NodeState.HEALTHY, NodeState.PROBING}),
    (MessageKind.DISABLED,
     {NodeState.UNPROVEN, NodeState.HEALTHY, NodeState.EJECTED, NodeState.PROBING}),
])  # fmt: skip
def test_peer_moves_are_legal_only_where_the_table_says(kind, legal_from):
    event = PEER_EVENTS[kind]
    assert {state for state, e in TRANSITIONS if e is event} == legal_from


def test_message_kinds_keep_their_wire_values():
    assert [k.value for k in MessageKind] == ["ejected", "disabled", "drain", "enable", "recovered"]


def test_every_admin_action_has_a_move_and_a_message():
    assert set(ACTIONS) == set(AdminAction)
    assert {a.value: kind for a, (_, kind) in ACTIONS.items()} == {
        "drain": MessageKind.DRAIN,
        "enable": MessageKind.ENABLE,
    }


# --- ClusterSync.apply: a peer's message goes through the table (no Redis is contacted) ----


class _Observer:
    def __init__(self) -> None:
        self.seen: list[Transition] = []

    def transitions(self, changes) -> None:
        self.seen.extend(changes)


def _record(state: str) -> NodeHealth:
    node = NodeHealth("n", HealthCheck(unhealthy_threshold=1), Ejection())
    if state == "unproven":
        node = NodeHealth.for_node(NodeConfig("n", "http://x"))
    elif state == "draining":
        node.drain(0.0)
    elif state == "disabled":
        node.record_auth_failure(0.0)
    elif state == "down by check":
        node.record_probe(False, 0.0)
    return node


@pytest.mark.parametrize("kind,before,after,trigger", [
    ("drain", "healthy", "draining", "peer_drain"),
    ("drain", "unproven", "draining", "peer_drain"),
    ("drain", "draining", "draining", None),
    ("enable", "draining", "healthy", "peer_enable"),
    ("enable", "down by check", "ejected", None),  # a peer's enable undoes only a drain
    ("enable", "disabled", "disabled", None),
    ("disabled", "unproven", "disabled", "peer_disabled"),
    ("disabled", "draining", "draining", None),
    ("ejected", "healthy", "ejected", "peer_ejected"),
    ("ejected", "unproven", "unproven", None),  # waits for its own probe
    ("recovered", "disabled", "disabled", None),  # judged by this replica's own probes
    ("no-such-kind", "healthy", "healthy", None),
])  # fmt: skip
async def test_apply_lets_the_table_decide(kind, before, after, trigger):
    health, observer = _record(before), _Observer()
    pool = SimpleNamespace(nodes={"n": SimpleNamespace(health=health)})
    client = aioredis.Redis()  # never connects: apply only reads the message
    sync = ClusterSync(StateConfig(backend="redis"), pool, observer, client)  # type: ignore[arg-type]
    try:
        now = time.time()
        message = {"kind": kind, "node": "n", "origin": "elsewhere", "at": now}
        sync.apply(orjson.dumps({**message, "until": now + 30, "count": 1}))
        # The replica's own messages come back through pub/sub too: never applied twice.
        sync.apply(orjson.dumps({**message, "origin": sync.origin, "kind": "drain"}))
    finally:
        await sync.client.aclose()
    assert health.state.value == after
    assert [t.event.value for t in observer.seen] == ([trigger] if trigger else [])
