"""The one routes.yaml builder of the tests, and the request bodies they send.

The defaults switch off what a test must decide itself (active probes, passive ejection)
and make a router stop quickly; a test passes the sections it relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tests.support.procs import free_port

Json = dict[str, Any]

FLASH = "gemini-2.5-flash"  # the model most tests route
CHAT = "/v1/chat/completions"  # OpenAI's chat endpoint, under the default prefix

# Tests decide what fails: no active probes, no passive ejection, no same-node retries
# (a test of failover order asks each node once; tests of retry_same_node set it), and a
# quick stop.
# X-Mock-Node (which mock node answered) is not a header a node passes to clients by
# default: the tests allow it (server.node_headers).
TEST_SERVER: Json = {"shutdown_delay": 0, "shutdown_grace": 2, "node_headers": ["X-Mock-Node"]}
TEST_DEFAULTS: Json = {
    "health": False,
    "ejection": {"consecutive_failures": 1000, "max_percent": 0},
    "retry_same_node": 0,
}


def routes_yaml(
    nodes: Mapping[str, Json],
    models: Mapping[str, Json],
    *,
    server: Mapping[str, object] | None = None,
    defaults: Mapping[str, object] | None = None,
    state: Mapping[str, object] | None = None,
    keys: Sequence[Json] = (),
    tag: str = "",
    test_defaults: bool = True,
    observability: Mapping[str, object] | None = None,
) -> str:
    """A version 1 routes.yaml text; `tag` (a comment) makes a config distinct.

    `server` and `defaults` sections replace those of TEST_SERVER and TEST_DEFAULTS (or
    stand alone with `test_defaults=False`); `state`, `keys` and `observability` are
    written when given.
    """
    base_server = TEST_SERVER if test_defaults else {}
    base_defaults = TEST_DEFAULTS if test_defaults else {}
    doc: Json = {
        "version": 1,
        "server": {**base_server, **(server or {})},
        "defaults": {**base_defaults, **(defaults or {})},
        "nodes": {name: dict(entry) for name, entry in nodes.items()},
        "models": {name: dict(route) for name, route in models.items()},
    }
    if state is not None:
        doc["state"] = dict(state)
    if keys:
        doc["keys"] = [dict(k) for k in keys]
    if observability is not None:
        doc["observability"] = dict(observability)
    text = yaml.safe_dump(doc, sort_keys=False)
    return f"# {tag}\n{text}" if tag else text


def node_entry(url: str, **extra: object) -> Json:
    """A `nodes:` entry for routes.yaml."""
    return {"url": url, **extra}


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (a connect error)."""
    return f"http://127.0.0.1:{free_port()}"


def chat_body(model: str, *, stream: bool = False, text: str = "hello", **extra: object) -> Json:
    """A small OpenAI chat completion request with one user message `text`."""
    messages = [{"role": "user", "content": text}]
    return {"model": model, "messages": messages, "stream": stream, **extra}


GEMINI_BODY: Json = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def sse_data(text: str, sep: str = "\n\n") -> list[str]:
    """The `data:` payloads of an SSE text whose every event is one data line."""
    events = [e for e in text.split(sep) if e]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


def one_node_routes(extra: str = "", url: str = "http://127.0.0.1:9001") -> str:
    """The smallest routes.yaml text: node `a` at `url` (its flow mapping ends with
    `extra`, e.g. `, dialect: openai`) serving model `m`; for config parsing tests."""
    return (
        f'version: 1\nnodes:\n  a: {{url: "{url}"{extra}}}\n'
        "models:\n  m: {backends: [{node: a}]}\n"
    )
