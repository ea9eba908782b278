"""Fixtures shared by the tests: real mock-node processes that are always stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.router_proc import Routers
from tests.support import Proc, start_mock_node


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
        for proc in reversed(started):
            proc.stop()


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routers]:
    """Router processes, one per distinct config, shared by a test module."""
    started = Routers(tmp_path_factory.mktemp("routers"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with a bounded total timeout."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as client:
        yield client
