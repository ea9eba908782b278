"""Hedged requests on a real router in front of real mock nodes: what only real nodes show.

Node `stall` is the first pick of every model here (priority 0) and sends a role chunk
and then nothing (`stall_after_role`); node `quick` (priority 1) answers at once. The
mock counts a request whose client went away as `cancelled`: that is how a test sees the
router close the loser's connection at the node. The race itself (who wins, when a hedge
is sent or refused, the first-token deadline, the access log) is tested in process in
tests/proxy/test_hedging.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support import (
    CHAT,
    MockNode,
    MockNodes,
    Proc,
    Routers,
    chat_body,
    eventually,
    routes_yaml,
)
from tests.support.billing import (
    BILLING_DEFAULTS,
    JsonlView,
    Reply,
    client_session,
    expected_cost,
    new_request_id,
    post,
    scrape,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

KEY = "sk-hedging-test-key-0123456789"
PRICING = {"pre_deduct": 5, "prompt_per_1k": 0.3, "completion_per_1k": 2.5, "reasoning_per_1k": 2.5}


MOCK_NODES = {"stall": (), "quick": ()}


def _two_tiers(first: str = "stall") -> list[dict[str, object]]:
    return [{"node": first, "priority": 0}, {"node": "quick", "priority": 1}]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hedge-ledger") / "usage.jsonl"


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers, ledger: Path) -> Proc:
    entries = {
        "stall": {"url": mock_nodes["stall"].url},
        "quick": {"url": mock_nodes["quick"].url},
    }
    models = {
        "m-hedge": {"hedge": {"after": 0.2}, "backends": _two_tiers()},
        "m-paid": {"hedge": {"after": 0.2}, "backends": _two_tiers(), "pricing": PRICING},
    }
    config = routes_yaml(
        entries,
        models,
        defaults=BILLING_DEFAULTS,
        state={"backend": "memory", "ledger_path": str(ledger)},
        keys=[{"name": "hedger", "key": KEY, "models": ["m-*"], "credits": 1000}],
    )
    return routers.get(config)


async def _ask(router: Proc, model: str, *, stream: bool = False, rid: str | None = None) -> Reply:
    async with client_session() as session:
        return await post(
            session,
            router.base_url + CHAT,
            chat_body(model, stream=stream),
            key=KEY,
            request_id=rid,
        )


def _hedges(router: Proc, outcome: str, model: str = "m-hedge") -> float:
    return scrape(router.base_url, "router_hedges_total", model=model, outcome=outcome)


async def _cancelled(node: MockNode) -> int:
    """The node's count of requests dropped by their client (waiting for the first)."""
    await eventually(lambda: node.stats()["cancelled"] > 0, limit=3.0)
    return int(node.stats()["cancelled"])


async def test_a_hedge_wins_against_a_stalled_stream_and_the_loser_is_cancelled(
    router: Proc, mock_nodes: MockNodes
) -> None:
    mock_nodes["stall"].faults(stall_after_role=True)
    won = _hedges(router, "won")
    reply = await _ask(router, "m-hedge", stream=True)
    assert reply.status == 200, reply.raw[:300]
    assert reply.headers["X-Mock-Node"] == "quick"
    events = reply.events()
    # The stalled node's role chunk was held back: the client sees one answer only.
    assert sum(1 for e in events for c in e["choices"] if "role" in c["delta"]) == 1
    assert {e["id"] for e in events} == {events[0]["id"]}
    assert await _cancelled(mock_nodes["stall"]) == 1
    assert _hedges(router, "won") == won + 1
    assert mock_nodes["quick"].stats()["cancelled"] == 0


async def test_the_hedge_winner_settles_the_one_reservation(
    router: Proc, mock_nodes: MockNodes, ledger: Path
) -> None:
    mock_nodes["stall"].faults(stall_after_role=True)
    rid = new_request_id()
    reply = await _ask(router, "m-paid", stream=True, rid=rid)
    assert reply.status == 200 and reply.headers["X-Mock-Node"] == "quick"
    view = JsonlView(ledger)
    record = await view.settled(rid)
    assert (record["node"], record["settled_by"]) == ("quick", "usage")
    assert record["charged"] == expected_cost(PRICING, "hello")
    await asyncio.sleep(0.3)  # a second settlement (the loser's) would show up by now
    assert len(view.records_for(rid)) == 1
