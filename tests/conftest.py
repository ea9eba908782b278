"""Fixtures shared by the tests, and the guards that keep unmarked tests free of processes.

A test that starts any process (router, mock node, Redis, nginx, promtool...) is marked
`pytest.mark.integration` and lives under tests/integration/; `make test-unit` runs the
others. So that a forgotten marker is caught rather than silently slowing the fast run,
`_processes_refused` makes every way of starting a process fail inside an unmarked test,
and a test under tests/integration/ without the marker fails at once.

One fixture per kind of process, here and nowhere else:

    mock_node_factory  one mock node at a time, stopped after the test
    browser            one Chromium (Playwright) shared by a module
    mock_nodes         the module's mock nodes, `MOCK_NODES = {name: (flags...)}` in the
                       module, started once; `fresh_nodes` resets them before a test
    routers            one router per distinct config, shared by a module
    started            a test's own mock nodes and an observed router (RouterUnderTest)
    redis_server       a redis-server shared by a module

and, in process: `router_app` (the router's app on aiohttp's test server, its nodes the
fake transport of tests/support/fake_transport.py).
"""

from __future__ import annotations

import _posixsubprocess
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from router.config.loader import parse_config
from router.server.app import Options, create_app
from tests.support import MockNodes, Proc, RedisServer, Routers, start_mock_node, stop_all
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, playwright
from tests.support.fake_transport import FakeNodes
from tests.support.redis import REDIS_SERVER
from tests.support.router_under_test import Started

pytest_plugins = ["pytester"]  # test_process_guard runs the guard on a tree of its own

INTEGRATION = "integration"


def _refuse(what: str) -> Callable[..., object]:
    def refused(*args: object, **kwargs: object) -> object:
        pytest.fail(f"{what} in a test without @pytest.mark.{INTEGRATION}: mark it")

    return refused


# Every function of os that starts a process without going through subprocess.Popen.
_OS_STARTS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "spawnv", "spawnve", "system")
INTEGRATION_DIR = Path(__file__).parent / "integration"


@contextlib.contextmanager
def _processes_refused(item: pytest.Item) -> Iterator[None]:
    """Every process start fails while an unmarked test and its fixtures run.

    asyncio's subprocesses go through `subprocess.Popen`; multiprocessing's `spawn` and
    `forkserver` call `_posixsubprocess.fork_exec` themselves (its `fork` calls os.fork).
    """
    if item.get_closest_marker(INTEGRATION) is not None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse("starting a process"))
        patch.setattr(_posixsubprocess, "fork_exec", _refuse("_posixsubprocess.fork_exec"))
        for name in _OS_STARTS:
            if hasattr(os, name):
                patch.setattr(os, name, _refuse(f"os.{name}"))
        yield


# Setup as well as the call: a module-scoped fixture (redis_server) is set up by the first
# test that asks for it, and must not start its process for an unmarked one either.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    marked = item.get_closest_marker(INTEGRATION) is not None
    if not marked and item.path.is_relative_to(INTEGRATION_DIR):
        pytest.fail(
            f"tests/integration/ holds the tests that start processes: give the module "
            f"`pytestmark = pytest.mark.{INTEGRATION}`, or move the test to tests/<subpackage>/"
        )
    with _processes_refused(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _processes_refused(item):
        return (yield)


# The SDK clients a test makes, by the module and class that make them.
_SDK_CLIENTS = (("openai", "OpenAI"), ("google.genai", "Client"), ("anthropic", "Anthropic"))


@pytest.fixture(autouse=True)
def _sdk_clients_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every openai / google-genai / anthropic client a test made, when it ends: a client left
    to the garbage collector closes its sockets in whichever later test runs the
    collector, and filterwarnings=error fails that test instead (ResourceWarning)."""
    made: list[object] = []
    for module_name, class_name in _SDK_CLIENTS:
        module = sys.modules.get(module_name)  # only SDKs some test module imported
        if module is None:
            continue
        cls = getattr(module, class_name)
        original = cls.__init__

        def init(self: object, *args: object, _original: object = original, **kw: object) -> None:
            _original(self, *args, **kw)  # type: ignore[operator]
            made.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    yield
    for client in made:
        client.close()  # type: ignore[attr-defined]


@pytest.fixture
def mock_node_factory(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """`start(name, *extra_args, port=None)` runs `router mock-node`; teardown stops them all."""
    started: list[Proc] = []

    def start(name: str = "node", *extra_args: str, port: int | None = None) -> Proc:
        proc = start_mock_node(name, port, *extra_args, log_dir=tmp_path)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        stop_all(started)


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routers]:
    """Router processes, one per distinct config, shared by a test module."""
    with Routers(tmp_path_factory.mktemp("routers")) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with a bounded total timeout."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as client:
        yield client


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by a module's tests (give each test its own key prefix)."""
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is not installed (make sysdeps)")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        server.start()
        yield server


@pytest.fixture(scope="module")
def mock_nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MockNodes]:
    """The module's mock nodes, `MOCK_NODES = {name: (flags...)}` in the test module, started
    side by side once per module; each test starts from clean counters and no faults."""
    spec: dict[str, tuple[str, ...]] = request.module.MOCK_NODES
    with MockNodes(tmp_path_factory.mktemp("nodes")) as nodes:
        nodes.start(spec)
        yield nodes


@pytest.fixture
def fresh_nodes(request: pytest.FixtureRequest, mock_nodes: MockNodes) -> MockNodes:
    """`mock_nodes` with faults off and counters at zero, after the requests still running
    ended (or after the module's MOCK_NODES_SETTLE seconds, 2 unless it says)."""
    mock_nodes.reset(settle=getattr(request.module, "MOCK_NODES_SETTLE", 2.0))
    return mock_nodes


@pytest.fixture
def router_app(aiohttp_client: Any) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """`await router_app(routes_yaml_text, fake)`: a client of the router's app, served in
    this process on loopback, whose nodes are `fake` (a FakeNodes); no process starts."""

    async def start(text: str, fake: FakeNodes, **options: Any) -> TestClient[Any, Any]:
        app = create_app(parse_config(text), Options(**options), transports=fake)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium (Debian's, through Playwright) for the module; each test opens its own
    context (support.browser.open_page)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make sysdeps` installs Debian's chromium")
    with playwright().sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Started]:
    """A test's own mock nodes and observed router (`started.launch(...)`), all stopped after."""
    with Started(tmp_path) as processes:
        yield processes
