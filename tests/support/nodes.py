"""Real mock nodes and routers shared by the tests of one module.

Starting a process costs about half a second, so the proxy tests share them: a module
starts its mock nodes once (`MockNodes`) and resets their faults and counters before every
test, and `Routers` starts one router per distinct config and reuses it for every test
that asks for the same config. Everything started is stopped at teardown.

Only the standard library talks to the processes here (blocking calls of a few
milliseconds on loopback), so the helpers work from sync and async tests alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.procs import (
    Proc,
    ProcessError,
    Stops,
    http_request,
    mock_node_launch,
    start_all,
    start_router,
    stop_all,
)

Json = dict[str, Any]


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


class MockNodes(Stops):
    """Mock nodes started once and shared by the tests of one module."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.nodes: dict[str, MockNode] = {}

    def start(self, specs: Mapping[str, tuple[str, ...]]) -> None:
        """Start `{name: extra_args}` side by side (each start costs half a second)."""
        launches = [mock_node_launch(n, *args, log_dir=self.log_dir) for n, args in specs.items()]
        for proc in start_all(launches):
            self.nodes[proc.name] = MockNode(proc, proc.name)

    def __getitem__(self, name: str) -> MockNode:
        return self.nodes[name]

    def reset(self, settle: float = 2.0) -> None:
        """Clear every node's faults and counters (see MockNode.reset)."""
        for node in self.nodes.values():
            node.reset(settle)

    def stop(self) -> None:
        stop_all([node.proc for node in self.nodes.values()])
        self.nodes.clear()


class Routers(Stops):
    """Router processes, one per distinct (config text, environment, flags), reused until
    `stop`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._running: dict[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], Proc] = {}

    def get(
        self, config_text: str, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
    ) -> Proc:
        """A running router for this config (started on first use), with `serve` flags `args`."""
        key = (config_text, tuple(sorted((env or {}).items())), tuple(args))
        proc = self._running.get(key)
        if proc is not None:
            if proc.returncode is not None:
                raise ProcessError(f"the router exited with {proc.returncode}\n{proc.output()}")
            return proc
        path = self.directory / f"routes-{len(self._running)}.yaml"
        path.write_text(config_text, encoding="utf-8")
        proc = start_router(path, *args, log_dir=self.directory, env=env)
        self._running[key] = proc
        return proc

    def stop(self) -> None:
        stop_all(list(self._running.values()))
        self._running.clear()
