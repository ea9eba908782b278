"""The router that the translation SDK tests (tests/integration/translation/) talk to: one
router per module in front of single-dialect mock nodes, keys on, a JSONL ledger, and the
SDK-neutral facts the tests compare with (the mock node's answers, the model's prices)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from router.mock.answers import REASONING_TOKENS, Answer, MockSettings
from tests.support.billing import JsonlView, key_hash, usage_cost
from tests.support.nodes import MockNode, MockNodes, Routers
from tests.support.procs import Proc
from tests.support.routes import Json, routes_yaml

KEY = f"sk-tr-{secrets.token_hex(8)}"
NODE_KEY = f"sk-node-{secrets.token_hex(6)}"
PRICING = {"prompt_per_1k": 1, "completion_per_1k": 2, "reasoning_per_1k": 3}
CHUNKS = 3
KEEPALIVE = 0.2  # server.keepalive_interval (the ticker wakes once a second)
WEATHER_TOOL = {"name": "get_weather", "arguments": {"city": "Paris"}}


def mock_answer(name: str) -> Answer:
    """What mock node `name` answers (started with `--chunks CHUNKS`)."""
    return Answer.of(MockSettings(name=name, chunks=CHUNKS))


def node_flags(dialect: str) -> tuple[str, ...]:
    """A single-dialect mock node that takes NODE_KEY its dialect's way."""
    return ("--dialect", dialect, "--api-key", NODE_KEY, "--chunks", str(CHUNKS))


class Translating:
    """The module's router, its mock nodes and its ledger."""

    def __init__(self, router: Proc, nodes: MockNodes, ledger: Path) -> None:
        self.router = router
        self.nodes = nodes
        self.ledger = JsonlView(ledger)

    @property
    def url(self) -> str:
        return self.router.base_url

    def node(self, name: str) -> MockNode:
        return self.nodes[name]

    def sent(self, name: str) -> Json:
        """The body node `name` was last sent (translated by the router)."""
        seen = self.nodes[name].last_request()
        assert seen is not None and seen["body"] is not None, seen
        body: Json = seen["body"]
        return body

    async def charged(self, request_id: str, prompt: int, completion: int, reasoning: int) -> Json:
        """The ledger's record of `request_id`, checked to charge exactly these tokens."""
        record = await self.ledger.settled(request_id)
        tokens = (record["prompt_tokens"], record["completion_tokens"], record["reasoning_tokens"])
        assert tokens == (prompt, completion, reasoning), record
        assert record["charged"] == usage_cost(PRICING, prompt, completion, reasoning), record
        return record


def start_translating(
    routers: Routers, nodes: MockNodes, ledger: Path, dialects: Mapping[str, str]
) -> Translating:
    """A router with models `one` (node `main` only), `mixed` (node `main`, then node
    `other` of the other dialect, continuing a cut answer there) and `errors` (node
    `errors` only, no retry), `dialects` saying what each node speaks."""

    def node(name: str) -> Json:
        return {"url": nodes[name].url, "api_key": NODE_KEY, "dialect": dialects[name]}

    def model(*names: str, **extra: object) -> Json:
        backends = [{"node": n, "priority": i} for i, n in enumerate(names)]
        return {"backends": backends, "pricing": PRICING, **extra}

    models = {
        "one": model("main"),
        "mixed": model("main", "other", on_midstream_failure="continue"),
        "errors": model("errors"),
    }
    entries = {name: node(name) for name in dialects}
    entries["errors"]["retries"] = 0
    config = routes_yaml(
        entries,
        models,
        server={"keepalive_interval": KEEPALIVE},
        state={"backend": "memory", "ledger_path": str(ledger)},
        keys=[{"name": "tr", "hash": key_hash(KEY), "models": ["*"], "credits": 1000}],
    )
    return Translating(routers.get(config), nodes, ledger)


__all__ = [
    "CHUNKS",
    "KEY",
    "NODE_KEY",
    "PRICING",
    "REASONING_TOKENS",
    "WEATHER_TOOL",
    "Translating",
    "mock_answer",
    "node_flags",
    "start_translating",
]
