"""router.upstream.nodes: NodePool.apply (kept, replaced and retired nodes on a reload) and
what each node is sent (its key the way its dialect expects it).

No request is sent: `apply` only creates transports (the in-process fake's here) and closes
those of retired nodes, so the tests are async but start nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from router.config.model import HealthCheck, NodeConfig, Timeouts
from router.dialects.names import DEFAULT_NODE_DIALECTS, DialectName
from router.routing.health import NodeState
from router.upstream.nodes import NodePool, node_credential
from tests.support.fake_transport import FakeNodes


def configs(*nodes: NodeConfig) -> Mapping[str, NodeConfig]:
    return {node.name: node for node in nodes}


A = NodeConfig("a", "http://127.0.0.1:1", api_key="ka")
B = NodeConfig("b", "http://127.0.0.1:2")


@pytest.fixture
async def pool() -> AsyncIterator[NodePool]:
    nodes = NodePool(FakeNodes())
    nodes.apply(configs(A, B))
    try:
        yield nodes
    finally:
        await nodes.close()


# (the reloaded config of node a, whether its runtime is kept)
RELOADS = [
    pytest.param(A, True, id="unchanged: kept"),
    pytest.param(NodeConfig("a", A.url, api_key="ka", max_inflight=7), True, id="limits: kept"),
    pytest.param(
        NodeConfig("a", A.url, api_key="ka", timeouts=Timeouts(connect=9)), True, id="timeouts"
    ),
    pytest.param(NodeConfig("a", "http://127.0.0.1:9", api_key="ka"), False, id="new url"),
    pytest.param(NodeConfig("a", A.url, api_key="other"), False, id="new key"),
    pytest.param(NodeConfig("a", A.url), False, id="key removed"),
]


@pytest.mark.parametrize(("reloaded", "kept"), RELOADS)
async def test_a_reloaded_node_is_kept_only_with_the_same_url_and_key(
    pool: NodePool, reloaded: NodeConfig, kept: bool
) -> None:
    old = pool.get("a")
    old.inflight = 1  # a request still running: a replaced node waits for it
    pool.apply(configs(reloaded, B))
    new = pool.get("a")
    assert (new is old) is kept
    assert new.config is reloaded
    assert not new.retired
    if kept:
        assert new.inflight == 1
    else:
        assert old.retired and not old.transport.closed
        assert new.inflight == 0
        old.release()  # its last request ends: now its pool closes
        await _settle()
        assert old.transport.closed and not new.transport.closed
    assert new.config.max_inflight == reloaded.max_inflight
    assert pool.get("b").config is B


async def test_a_removed_idle_node_is_retired_and_closed(pool: NodePool) -> None:
    a, b = pool.get("a"), pool.get("b")
    pool.apply(configs(B))
    assert set(pool.nodes) == {"b"}
    assert pool.get("b") is b and not b.retired
    assert a.retired and not a.is_selectable(0.0)
    await _settle()
    assert a.transport.closed
    assert not b.transport.closed


async def test_a_removed_busy_node_closes_after_its_last_request(pool: NodePool) -> None:
    a = pool.get("a")
    a.inflight = 2
    pool.apply(configs(B))
    assert a.retired and not a.transport.closed
    a.release()
    assert not a.transport.closed
    a.release()
    await _settle()
    assert a.transport.closed


async def test_an_added_node_gets_a_fresh_runtime(pool: NodePool) -> None:
    c = NodeConfig("c", "http://127.0.0.1:3")
    before = dict(pool.nodes)
    pool.apply(configs(A, B, c))
    assert list(pool.nodes) == ["a", "b", "c"]
    assert pool.get("a") is before["a"] and pool.get("b") is before["b"]
    fresh = pool.get("c")
    assert fresh.config is c and fresh.inflight == 0 and not fresh.retired


async def test_a_renamed_node_is_a_new_node(pool: NodePool) -> None:
    a = pool.get("a")
    renamed = NodeConfig("a2", A.url, api_key="ka")
    pool.apply(configs(renamed, B))
    assert set(pool.nodes) == {"a2", "b"}
    assert pool.get("a2") is not a
    assert a.retired


OPENAI, GEMINI = DialectName.OPENAI, DialectName.GEMINI


@pytest.mark.parametrize(
    ("speaks", "credential", "key_check"),
    [
        (DEFAULT_NODE_DIALECTS, ("Authorization", "Bearer k1"), "/v1/models"),
        (frozenset({OPENAI}), ("Authorization", "Bearer k1"), "/v1/models"),
        (frozenset({GEMINI}), ("x-goog-api-key", "k1"), "/v1beta/models"),
    ],
)
async def test_a_nodes_key_goes_the_way_its_dialect_expects(
    speaks: frozenset[DialectName], credential: tuple[str, str], key_check: str
) -> None:
    config = NodeConfig("g", "http://127.0.0.1:4", api_key="k1", speaks=speaks)
    assert node_credential(config) == credential
    nodes = NodePool(FakeNodes())
    nodes.apply(configs(config))
    try:
        runtime = nodes.get("g")
        assert runtime.credential == credential
        assert runtime.speaks == speaks
        assert runtime.key_check_path == key_check  # where a disabled node's probe goes
    finally:
        await nodes.close()


def test_basic_auth_and_no_key_whatever_the_dialect() -> None:
    for speaks in (DEFAULT_NODE_DIALECTS, frozenset({GEMINI})):
        basic = NodeConfig("b", "http://127.0.0.1:5", basic_auth="u:p", speaks=speaks)
        assert node_credential(basic) == ("Authorization", "Basic dTpw")
        assert node_credential(NodeConfig("n", "http://127.0.0.1:6", speaks=speaks)) is None


async def _settle() -> None:
    """Let the close task `close_soon` scheduled run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_selectable_asks_the_health_rule_with_the_nodes_room() -> None:
    pool = NodePool(FakeNodes())
    checks_off = HealthCheck(enabled=False)  # healthy from the start
    pool.apply(configs(NodeConfig("a", "http://127.0.0.1:1", max_inflight=2, health=checks_off)))
    a = pool.get("a")
    try:
        a.inflight = 1
        assert a.has_room() and a.is_selectable(0.0)
        a.inflight = 2  # full: no new request, though healthy
        assert not a.has_room() and not a.is_selectable(0.0)
        a.inflight = 0
        pool.apply(configs())  # removed by a reload: retired in its health record
        assert a.health.state is NodeState.RETIRED and a.has_room() and not a.is_selectable(0.0)
    finally:
        await pool.close()
