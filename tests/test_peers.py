"""Peer messages and admin actions are vocabularies; what they may change is the table's."""

from __future__ import annotations

import pytest

from router.routing.health import TRANSITIONS, Event, NodeState
from router.upstream.peers import PEER_EVENTS, MessageKind
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
    (MessageKind.DRAIN, set(NodeState) - {NodeState.DRAINING}),
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
