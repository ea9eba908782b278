"""The raw loopback nodes of the upstream tests (tests/support/raw_node.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.raw_node import Answer, RawNode


@pytest.fixture
async def node_factory() -> AsyncIterator[Callable[[Answer], Awaitable[RawNode]]]:
    """`await make(answer)` starts a raw node; teardown closes them all."""
    nodes: list[RawNode] = []

    async def make(answer: Answer) -> RawNode:
        node = await RawNode(answer).start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        assert node.server is not None
        node.server.close()
