"""The in-process mock node the tests of router.mock share (tests/integration/mock/ starts
it as a process)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from router.mock.answers import MockSettings
from router.mock.app import create_app
from router.mock.faults import Faults

TIMEOUT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
def node(aiohttp_client):
    """`await node(name=..., chunks=..., faults=Faults(...), seed=...)` -> a test client."""

    async def start(
        faults: Faults | None = None, seed: int | None = 7, **settings: Any
    ) -> TestClient[web.Request, web.Application]:
        settings.setdefault("name", "node62")
        app = create_app(MockSettings(**settings), faults, seed=seed)
        client: TestClient[web.Request, web.Application]
        client = await aiohttp_client(app, timeout=TIMEOUT)
        return client

    return start
