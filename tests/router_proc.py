"""Real router and mock-node processes for the proxy integration tests.

Starting a process costs about half a second, so the proxy tests share them: a module
starts its mock nodes once (`MockNodes`) and resets their faults and counters before every
test, and `Routers` starts one router per distinct config and reuses it for every test
that asks for the same config. Everything started is stopped at teardown.

Only the standard library talks to the processes here (blocking calls of a few
milliseconds on loopback), so the helpers work from sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.support import Proc, ProcessError, free_port, http_request, start_mock_node

Json = dict[str, Any]
T = TypeVar("T")


async def eventually(check: Callable[[], T], *, limit: float = 3.0, every: float = 0.02) -> T:
    """Poll `check` (a quick call) until it returns something truthy, or for `limit` seconds."""
    for _ in range(int(limit / every)):
        result = check()
        if result:
            return result
        await asyncio.sleep(every)
    return check()


class MockNode:
    """One running `router mock-node` and its `/_mock/*` controls."""

    def __init__(self, proc: Proc, name: str) -> None:
        self.proc = proc
        self.name = name

    @property
    def url(self) -> str:
        return self.proc.base_url

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, raw = http_request(method, self.url + path, body, headers, timeout=5.0)
        if status != 200:
            raise AssertionError(f"{self.name} {method} {path} -> {status}: {raw[:300]!r}")
        return json.loads(raw)

    def faults(self, **faults: object) -> Json:
        """Set faults (the `POST /_mock/faults` fields)."""
        result: Json = self._call("POST", "/_mock/faults", faults)
        return result

    def stats(self) -> Json:
        result: Json = self._call("GET", "/_mock/stats")
        return result

    def last_request(self) -> Json | None:
        result: Json | None = self._call("GET", "/_mock/last_request")
        return result

    def requests(self) -> int:
        return int(self.stats()["requests"])

    def reset(self, settle: float = 2.0) -> None:
        """Clear faults and counters, after requests still running have ended (or `settle`)."""
        self.faults(reset=True)
        deadline = time.monotonic() + settle
        while self.stats()["inflight"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self._call("POST", "/_mock/stats/reset", {})


class MockNodes:
    """Mock nodes started once and shared by the tests of one module."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.nodes: dict[str, MockNode] = {}

    def start(self, specs: Mapping[str, tuple[str, ...]]) -> None:
        """Start `{name: extra_args}` side by side (each start costs half a second)."""
        for name, args in specs.items():
            port = free_port()
            argv = ["mock-node", "--port", str(port), "--name", name, *args]
            proc = Proc(argv, name=name, port=port, log_dir=self.log_dir).start()
            self.nodes[name] = MockNode(proc, name)
        for name, args in specs.items():
            try:
                self.nodes[name].proc.wait_ready(f"{self.nodes[name].url}/_mock/stats")
            except ProcessError:
                # Most likely another process took the port: start it again, the careful way.
                self.nodes[name].proc.stop()
                proc = start_mock_node(name, None, *args, log_dir=self.log_dir)
                self.nodes[name] = MockNode(proc, name)

    def __getitem__(self, name: str) -> MockNode:
        return self.nodes[name]

    def reset(self) -> None:
        for node in self.nodes.values():
            node.reset()

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.proc.stop()
        self.nodes.clear()


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (a connect error)."""
    return f"http://127.0.0.1:{free_port()}"


def node_entry(url: str, **extra: object) -> Json:
    """A `nodes:` entry for routes.yaml."""
    return {"url": url, **extra}


# Tests decide what fails: no active probes, no passive ejection, and a quick stop.
TEST_SERVER: Json = {"shutdown_delay": 0, "shutdown_grace": 2}
TEST_DEFAULTS: Json = {
    "health": False,
    "ejection": {"consecutive_failures": 1000, "max_percent": 0},
}


def routes_yaml(
    nodes: Mapping[str, Json],
    models: Mapping[str, Json],
    *,
    server: Mapping[str, object] | None = None,
    defaults: Mapping[str, object] | None = None,
    tag: str = "",
) -> str:
    """A version 1 routes.yaml text; `tag` (a comment) makes a config distinct."""
    doc: Json = {
        "version": 1,
        "server": {**TEST_SERVER, **(server or {})},
        "defaults": {**TEST_DEFAULTS, **(defaults or {})},
        "nodes": {name: dict(entry) for name, entry in nodes.items()},
        "models": {name: dict(route) for name, route in models.items()},
    }
    text = yaml.safe_dump(doc, sort_keys=False)
    return f"# {tag}\n{text}" if tag else text


def start_router(config_path: Path, *, log_dir: Path, env: Mapping[str, str] | None = None) -> Proc:
    """Run `python -m router serve` on a free loopback port and wait for /readyz."""
    for attempt in range(3):
        port = free_port()
        args = ["serve", "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)]
        proc = Proc(args, name="router", port=port, log_dir=log_dir, env=env).start()
        try:
            return proc.wait_ready(f"{proc.base_url}/readyz")
        except ProcessError as exc:
            proc.stop()
            if attempt == 2 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


class Routers:
    """Router processes, one per distinct (config text, environment), reused until `stop`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._running: dict[tuple[str, tuple[tuple[str, str], ...]], Proc] = {}

    def get(self, config_text: str, env: Mapping[str, str] | None = None) -> Proc:
        """A running router for this config (started on first use)."""
        key = (config_text, tuple(sorted((env or {}).items())))
        proc = self._running.get(key)
        if proc is not None:
            if proc.returncode is not None:
                raise ProcessError(f"the router exited with {proc.returncode}\n{proc.output()}")
            return proc
        path = self.directory / f"routes-{len(self._running)}.yaml"
        path.write_text(config_text, encoding="utf-8")
        proc = start_router(path, log_dir=self.directory, env=env)
        self._running[key] = proc
        return proc

    def stop(self) -> None:
        for proc in reversed(list(self._running.values())):
            proc.stop()
        self._running.clear()


def chat_body(model: str, *, stream: bool = False, **extra: object) -> Json:
    """A small OpenAI chat completion request."""
    messages = [{"role": "user", "content": "hello"}]
    return {"model": model, "messages": messages, "stream": stream, **extra}


GEMINI_BODY: Json = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
