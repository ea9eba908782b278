"""A router process under test, for the health/reload/admin tests (client load: health_load).

`RouterUnderTest` runs `python -m router serve --log-format json` on a loopback port with its
routes.yaml in a temporary directory, and reads back what the process says: its JSON log
lines, its admin API and its /metrics. `Load` (tests/health_load.py) runs client loops
against it and records every request.

Everything here is asynchronous (aiohttp) so that reading the router's state never stalls
the client loops running on the same event loop; the processes themselves are started and
stopped with the blocking helpers of `tests.support`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import (
    FLASH,
    MockNode,
    MockNodes,
    Proc,
    ProcessError,
    Stops,
    lost_its_port,
    mock_node_launch,
    router_launch,
    routes_yaml,
    start_mock_node,
    stop_all,
)

ADMIN_TOKEN = "admin-token-for-tests"
# Active checks as fast as the issue asks: a node serves after its first probe (~0.3 s).
FAST_HEALTH: dict[str, object] = {
    "interval": 0.3,
    "timeout": 0.25,
    "unhealthy_threshold": 2,
    "healthy_threshold": 1,
}

Json = dict[str, Any]


def config_text(
    urls: Mapping[str, str],
    *,
    backends: list[Json] | None = None,
    node_extra: Mapping[str, Json] | None = None,
    server: Mapping[str, object] | None = None,
    token: str | None = ADMIN_TOKEN,
    tag: str = "",
    **defaults: object,
) -> str:
    """routes.yaml for model FLASH served by `urls` (`{node: url}`), one tier unless told.

    `defaults` replace whole sections of `tests.support.TEST_DEFAULTS` (which switch
    active checks and ejection off), so a test states every health setting it relies on.
    """
    extra = node_extra or {}
    nodes = {name: {"url": url, **extra.get(name, {})} for name, url in urls.items()}
    chosen = backends if backends is not None else [{"node": name} for name in urls]
    settings: Json = dict(server or {})
    if token:
        settings["admin_token"] = token
    return routes_yaml(
        nodes, {FLASH: {"backends": chosen}}, server=settings, defaults=defaults, tag=tag
    )


class RouterUnderTest:
    """One `router serve` process with its config file, logs, admin API and metrics."""

    def __init__(self, directory: Path, config_text: str, *, token: str | None = ADMIN_TOKEN):
        self.directory = directory
        self.config_path = directory / "routes.yaml"
        self.config_path.write_text(config_text, encoding="utf-8")
        self.token = token
        self.proc: Proc | None = None
        self._log_offset = 0
        self._lines: list[Json] = []

    @property
    def url(self) -> str:
        assert self.proc is not None
        return self.proc.base_url

    def begin(self) -> RouterUnderTest:
        """Start the process on a free port (not waiting for it)."""
        self._launch = router_launch(
            self.config_path, "--log-format", "json", log_dir=self.directory
        )
        self.proc = self._launch.begin()
        return self

    def wait_ready(self, status: int | None = 200) -> RouterUnderTest:
        """Wait until /readyz answers `status` (any status with None); a router whose free
        port was taken before it could bind is started again on another (twice at most)."""
        assert self.proc is not None
        for attempt in range(3):
            try:
                self.proc.wait_ready(f"{self.url}/readyz", status=status)
                return self
            except ProcessError as exc:
                if attempt == 2 or not lost_its_port(exc):
                    raise
                self.proc.stop()
                self.proc = self._launch.begin()
        return self

    def stop(self) -> int | None:
        return None if self.proc is None else self.proc.stop()

    def send_signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    # -- config ---------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        """Replace routes.yaml in one step, so the 1 s poller never reads half a file."""
        temporary = self.config_path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.config_path)

    # -- logs -----------------------------------------------------------------------------

    def logs(self) -> list[Json]:
        """Every JSON log line written so far (non-JSON lines are skipped)."""
        assert self.proc is not None
        path = self.proc.stdout_path
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(self._log_offset)
                data = handle.read()
            complete = data.rfind(b"\n") + 1  # a line still being written waits for next time
            self._log_offset += complete
            for raw in data[:complete].splitlines():
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    if isinstance(line, dict):
                        self._lines.append(line)
        return list(self._lines)

    def events(self, name: str, **fields: object) -> list[Json]:
        """Log lines whose `event` is `name` and whose fields match `fields`."""
        return [
            line
            for line in self.logs()
            if line.get("event") == name and all(line.get(k) == v for k, v in fields.items())
        ]

    async def wait_event(
        self, name: str, *, count: int = 1, within: float = 5.0, **fields: object
    ) -> list[Json]:
        """Poll the log until `count` matching events are there; fail with the log otherwise."""
        deadline = time.monotonic() + within
        while True:
            found = self.events(name, **fields)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"wanted {count} {name} {fields} events within {within}s, got {found}\n"
                    f"{self.output_tail()}"
                )
            await asyncio.sleep(0.05)

    def output_tail(self, lines: int = 60) -> str:
        if self.proc is None:
            return ""
        return "\n".join(self.proc.output().splitlines()[-lines:])

    # -- admin API and metrics --------------------------------------------------------------

    def auth(self, token: str | None = None) -> dict[str, str]:
        token = token or self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def admin(
        self, session: aiohttp.ClientSession, method: str, path: str, token: str | None = None
    ) -> tuple[int, Json]:
        async with session.request(method, self.url + path, headers=self.auth(token)) as resp:
            body = await resp.read()
            return resp.status, json.loads(body) if body else {}

    async def node(self, session: aiohttp.ClientSession, name: str) -> Json:
        """One node's entry in GET /admin/nodes."""
        status, body = await self.admin(session, "GET", "/admin/nodes")
        assert status == 200, body
        entry: Json = body["nodes"][name]
        return entry

    async def wait_node(
        self,
        session: aiohttp.ClientSession,
        name: str,
        accept: Callable[[Json], bool],
        within: float = 5.0,
    ) -> Json:
        """Poll /admin/nodes until `accept(entry)`; returns the entry."""
        deadline = time.monotonic() + within
        while True:
            entry = await self.node(session, name)
            if accept(entry):
                return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never matched within {within}s; last: {entry}")
            await asyncio.sleep(0.03)

    async def metric(self, session: aiohttp.ClientSession, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when absent)."""
        async with session.get(self.url + "/metrics") as resp:
            text = await resp.text()
        return metric_value(text, name, labels)


def metric_value(text: str, name: str, labels: Mapping[str, str]) -> float:
    """Sum the Prometheus text-format samples of `name` matching `labels`."""
    total = 0.0
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric != name:
            continue
        if all(w in rest for w in wanted):
            total += float(value)
    return total


# -- mock nodes ---------------------------------------------------------------------------


async def mock_stats(session: aiohttp.ClientSession, url: str) -> Json:
    async with session.get(url + "/_mock/stats") as resp:
        assert resp.status == 200
        stats: Json = await resp.json()
        return stats


async def mock_faults(session: aiohttp.ClientSession, url: str, **faults: object) -> None:
    async with session.post(url + "/_mock/faults", json=faults) as resp:
        assert resp.status == 200, await resp.text()


async def wait_stat(
    session: aiohttp.ClientSession,
    url: str,
    counter: str,
    within: float = 5.0,
    *,
    at_least: int = 1,
) -> float:
    """Poll the mock node's /_mock/stats until `counter` >= `at_least`; the seconds it took."""
    begun = time.monotonic()
    while (got := (await mock_stats(session, url))[counter]) < at_least:
        if time.monotonic() - begun > within:
            raise AssertionError(f"{counter} is {got} at {url} after {within}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - begun


async def request_counts(session: aiohttp.ClientSession, nodes: MockNodes) -> Counter[str]:
    """Chat requests each mock node has received so far."""
    counts: Counter[str] = Counter()
    for name, node in nodes.nodes.items():
        counts[name] = int((await mock_stats(session, node.url))["requests"])
    return counts


class Started(Stops):
    """What one test started (routers and mock nodes), all stopped by `stop_all`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._routers: list[RouterUnderTest] = []
        self._procs: list[Proc] = []

    def launch(
        self,
        specs: Mapping[str, tuple[str, ...]],
        make_config: Callable[[dict[str, str]], str],
        *,
        token: str | None = ADMIN_TOKEN,
        together: bool = True,
        ready: int | None = 200,
    ) -> tuple[MockNodes, RouterUnderTest]:
        """Mock nodes `{name: extra args}` and a router for `make_config({name: url})`.

        Starting a process costs a second or more on a busy machine, so by default the
        router starts alongside its nodes. With active checks on, pass together=False: a
        probe sent before a node listens would log node states the test does not expect.
        """
        nodes = MockNodes(self.directory)
        for name, args in specs.items():
            proc = mock_node_launch(name, *args, log_dir=self.directory).begin()
            self._procs.append(proc)
            nodes.nodes[name] = MockNode(proc, name)
        if not together:
            self._wait_nodes(nodes)
        config = make_config({name: node.url for name, node in nodes.nodes.items()})
        directory = self.directory / f"router-{len(self._routers)}"
        directory.mkdir()
        router = RouterUnderTest(directory, config, token=token)
        self._routers.append(router)
        router.begin()
        self._wait_nodes(nodes)
        router.wait_ready(ready)  # None: any answer (/readyz is 503 with no proven node)
        return nodes, router

    def _wait_nodes(self, nodes: MockNodes) -> None:
        for node in nodes.nodes.values():
            node.proc.wait_ready(f"{node.url}/_mock/stats")

    def mock_node(self, name: str, port: int, *args: str) -> Proc:
        """One mock node on a given port (a restart after a kill)."""
        proc = start_mock_node(name, port, *args, log_dir=self.directory)
        self._procs.append(proc)
        return proc

    def stop(self) -> None:
        """SIGTERM everything at once, then wait for each (SIGKILL if it lingers)."""
        stop_all([r.proc for r in self._routers if r.proc is not None] + self._procs)
