"""A request in flight while routes.yaml is reloaded or its node leaves rotation, and a
hedged race the client leaves: no KeyError (a 500), no node left counted in flight, no
retry sent to a node that was taken out of rotation while the retry waited. In process,
against the fake transport (tests/fake_transport.py)."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

from router.config.loader import parse_config
from router.config.model import RetryBudget
from router.observability.exchange import Attempt, AttemptKind, Exchange
from router.proxy.plan import Plan
from router.proxy.race import Answer, Race
from router.proxy.table import RouteTable
from router.routing.health import NodeState
from router.routing.retry_budget import RetryBudgetTracker
from router.server.app import PARTS, Options, create_app
from router.upstream.request import failure_for_status
from tests.support import Json, chat_body, node_entry, routes_yaml
from tests.support.fake_transport import Chunk, FakeNodes, Script


def _config(nodes: list[str], models: dict[str, Json], **defaults: object) -> Any:
    entries = {name: node_entry(f"http://127.0.0.1:9/{name}") for name in nodes}
    return parse_config(routes_yaml(entries, models, defaults=defaults or None))


def _exchange() -> Exchange:
    return Exchange("r", "POST", "/v1/chat/completions", None, 0.0)


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


async def test_a_fallbacks_node_removed_by_a_reload_is_skipped_not_a_keyerror() -> None:
    models = {
        "m": {"backends": [{"node": "a"}], "fallbacks": ["f"]},
        "f": {"backends": [{"node": "c"}]},
    }
    before = _config(["a", "c"], models, retry_same_node=1)
    table = RouteTable(before, FakeNodes())
    table.install(before)
    plan = Plan(table, _Quiet(), before.models["m"], None, _exchange(), "openai")
    order = iter(plan)
    first = next(order)
    assert first.node.name == "a"
    plan.record_failure(first, failure_for_status(500, None))
    after = {"m": {"backends": [{"node": "a"}]}, "f": {"backends": [{"node": "d"}]}}
    table.install(_config(["a", "d"], after, retry_same_node=1))  # c is gone
    rest = [candidate.node.name for candidate in order]
    assert rest == ["a"]  # the same-node retry of a; not c (retired), and no KeyError


async def test_a_same_node_retry_of_a_removed_node_is_dropped() -> None:
    models = {"m": {"backends": [{"node": "a"}]}}
    before = _config(["a"], models, retry_same_node=1)
    table = RouteTable(before, FakeNodes())
    table.install(before)
    plan = Plan(table, _Quiet(), before.models["m"], None, _exchange(), "openai")
    order = iter(plan)
    first = next(order)
    plan.record_failure(first, failure_for_status(503, "1"))
    table.install(_config(["b"], {"m": {"backends": [{"node": "b"}]}}, retry_same_node=1))
    assert list(order) == []


async def test_a_retry_waiting_out_retry_after_is_not_sent_to_a_node_ejected_meanwhile(
    aiohttp_client: Any,
) -> None:
    busy = (("Content-Type", "application/json"), ("Retry-After", "0.3"))
    fake = FakeNodes({"a": Script(status=503, headers=busy, chunks=(b'{"error": "busy"}',))})
    text = routes_yaml(
        {"a": node_entry("http://127.0.0.1:9/a")},
        {"m": {"backends": [{"node": "a"}]}},
        defaults={"retry_same_node": 1},
    )
    client = await aiohttp_client(create_app(parse_config(text), Options(), transports=fake))
    health = client.app[PARTS].table.node("a").health

    async def eject_during_the_wait() -> None:
        await asyncio.sleep(0.1)
        health.state = NodeState.DRAINING

    ejecting = asyncio.create_task(eject_during_the_wait())
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    await ejecting
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert fake.posted_to() == ["a"]  # the retry was not sent


async def test_a_hedged_attempt_that_opens_as_the_client_leaves_is_released() -> None:
    released: list[str] = []
    closed: list[bool] = []
    node = SimpleNamespace(name="a", inflight=0, config=SimpleNamespace(retries=1))
    node.release = lambda: released.append("a")
    response = SimpleNamespace(close=lambda: closed.append(True))
    leaving: asyncio.Task[Any] | None = None

    exchange = _exchange()

    def begin(candidate: Any, *, first: bool, hedge: bool = False) -> Attempt:
        return exchange.new_attempt("a", "m", AttemptKind.FIRST, 0.0)

    async def start(candidate: Any, attempt: Attempt) -> Answer:
        await asyncio.sleep(0.01)
        assert leaving is not None
        leaving.cancel()  # the client leaves just as the node opens
        opened = SimpleNamespace(response=response, first_chunk=b"")
        return Answer(opened, candidate.served, node, 0.0, attempt)  # type: ignore[arg-type]

    candidate = SimpleNamespace(served=SimpleNamespace(name="m"), node=node)
    race = Race(
        model="m",
        candidates=iter([candidate]),  # type: ignore[list-item]
        begin=begin,
        start=start,
        may_retry=lambda *args: True,
        delay=SimpleNamespace(most=0, after=1.0),  # type: ignore[arg-type]
        budget=RetryBudgetTracker(RetryBudget()),
        observer=_Quiet(),
        exchange=exchange,
        outraced=lambda *args: None,
    )
    leaving = asyncio.create_task(race.run())
    with contextlib.suppress(asyncio.CancelledError):
        await leaving
    assert released == ["a"] and closed == [True]


async def test_an_error_body_slower_than_a_second_goes_back_unread(aiohttp_client: Any) -> None:
    """Under fallbacks_on the router reads a 4xx body for its code, for at most 1 s; a
    slower one goes back to the client as the node sends it, not as a node timeout."""
    slow = (b'{"error": {"code": "context_', Chunk(b'length_exceeded"}}', delay=1.3))
    fake = FakeNodes({"a": Script(status=400, chunks=slow), "b": Script()})
    models = {
        "m": {"backends": [{"node": "a"}], "fallbacks_on": {"context_length_exceeded": ["big"]}},
        "big": {"backends": [{"node": "b"}]},
    }
    text = routes_yaml({n: node_entry(f"http://127.0.0.1:9/{n}") for n in "ab"}, models)
    client = await aiohttp_client(create_app(parse_config(text), Options(), transports=fake))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 400
    assert await response.read() == b'{"error": {"code": "context_length_exceeded"}}'
    assert fake.posted_to() == ["a"]
    assert client.app[PARTS].table.node("a").health.failures == 0
