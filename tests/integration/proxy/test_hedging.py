"""Hedged requests and the first-token deadline on a real router in front of real mock nodes.

Node `stall` is the first pick of every model here (priority 0) and is given the fault a
test needs: a role chunk and then nothing (`stall_after_role`), or a slow first token
(`ttft_delay`). Node `quick` (priority 1) answers at once unless told otherwise. The mock
counts a request whose client went away as `cancelled`: that is how a test sees the
router close the loser's connection.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support import MockNode, MockNodes, Proc, Routers, chat_body, eventually, routes_yaml
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

CHAT = "/v1/chat/completions"
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
        "stall-deadline": {"url": mock_nodes["stall"].url, "timeouts": {"first_token": 0.5}},
        "quick": {"url": mock_nodes["quick"].url},
    }
    models = {
        "m-hedge": {"hedge": {"after": 0.2}, "backends": _two_tiers()},
        "m-deadline": {"backends": _two_tiers("stall-deadline")},
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


async def test_a_hedge_wins_a_whole_answer_too(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["stall"].faults(ttft_delay=5)
    reply = await _ask(router, "m-hedge")
    assert reply.status == 200 and reply.headers["X-Mock-Node"] == "quick"
    assert reply.json()["choices"][0]["message"]["content"]
    assert await _cancelled(mock_nodes["stall"]) == 1


async def test_a_hedge_loses_when_the_first_node_answers_first(
    router: Proc, mock_nodes: MockNodes
) -> None:
    mock_nodes["stall"].faults(ttft_delay=0.5)
    mock_nodes["quick"].faults(ttft_delay=3)
    lost = _hedges(router, "lost")
    reply = await _ask(router, "m-hedge", stream=True)
    assert reply.status == 200 and reply.headers["X-Mock-Node"] == "stall"
    assert mock_nodes["quick"].requests() == 1  # the hedge was sent
    assert await _cancelled(mock_nodes["quick"]) == 1  # and dropped when stall answered
    assert _hedges(router, "lost") == lost + 1


async def test_no_hedge_before_its_delay(router: Proc, mock_nodes: MockNodes) -> None:
    reply = await _ask(router, "m-hedge", stream=True)
    assert reply.status == 200 and reply.headers["X-Mock-Node"] == "stall"
    assert mock_nodes["quick"].requests() == 0


async def test_a_role_chunk_then_stall_is_failed_over_under_first_token(
    router: Proc, mock_nodes: MockNodes
) -> None:
    mock_nodes["stall"].faults(stall_after_role=True)
    reply = await _ask(router, "m-deadline", stream=True)
    assert reply.status == 200, reply.raw[:300]
    assert reply.headers["X-Mock-Node"] == "quick"
    events = reply.events()
    assert sum(1 for e in events for c in e["choices"] if "role" in c["delta"]) == 1
    assert await _cancelled(mock_nodes["stall"]) == 1
    failures = scrape(
        router.base_url, "router_upstream_errors_total", node="stall-deadline", reason="timeout"
    )
    assert failures >= 1


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


def test_the_access_log_shows_the_outraced_attempt(router: Proc) -> None:
    # Written by the tests above: the stalled node left as `outraced`, the hedge answered.
    lines = [json.loads(line) for line in router.output().splitlines() if line.startswith("{")]
    attempts = [line.get("attempts") for line in lines if line.get("model") == "m-hedge"]
    outraced = [a for a in attempts if a and any(x["failure"] == "outraced" for x in a)]
    assert outraced, attempts[-5:]
    assert {x["node"] for x in outraced[0] if x["failure"] is None} <= {"stall", "quick"}


async def test_no_hedge_when_the_retry_budget_is_spent(
    mock_nodes: MockNodes, routers: Routers
) -> None:
    entries = {
        "stall": {"url": mock_nodes["stall"].url, "timeouts": {"first_token": 1.2}},
        "quick": {"url": mock_nodes["quick"].url},
    }
    config = routes_yaml(
        entries,
        {"m-hedge": {"hedge": {"after": 0.2}, "backends": _two_tiers()}},
        defaults={"retry_budget": {"percent": 0, "min_concurrent": 1}},
        tag="budget",
    )
    router = routers.get(config)
    mock_nodes["stall"].faults(stall_after_role=True)
    mock_nodes["quick"].faults(ttft_delay=2.5)
    # A's hedge (0.2 s in) is the one retry the budget allows while it runs (2.5 s);
    # B's hedge, due 0.2 s after B started, finds the budget spent and is refused, and so
    # is its failover when stall's first_token deadline (1.2 s) ends B's first attempt.
    first = asyncio.create_task(_ask(router, "m-hedge", stream=True))
    await asyncio.sleep(0.5)
    second = await _ask(router, "m-hedge", stream=True)
    assert second.status == 504, second.raw[:300]
    answer = await first
    assert answer.status == 200 and answer.headers["X-Mock-Node"] == "quick"
    assert mock_nodes["quick"].requests() == 1  # only A's hedge reached it
    assert _hedges(router, "refused") == 1
    assert _hedges(router, "won") == 1
