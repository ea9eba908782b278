"""A bug in the router (an exception nobody expected) is answered, counted and logged as 500.

In-process through pytest-aiohttp's client: the fault is injected by replacing the proxy's
forward step, which a subprocess router offers no way to do.
"""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from router.config.loader import parse_config
from router.proxy.attempts import Proxy
from router.server.app import Options, create_app
from tests.support import chat_body, closed_port_url, node_entry, routes_yaml


async def test_unexpected_exception_is_a_500_everywhere(
    aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(
        routes_yaml(
            {"node62": node_entry(closed_port_url())}, {"m": {"backends": [{"node": "node62"}]}}
        )
    )

    async def broken_forward(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Proxy, "forward", broken_forward)
    client = await aiohttp_client(create_app(config, Options()))
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=chat_body("m"))
        answer = await response.json()
    assert response.status == 500
    assert answer["error"]["code"] == "api_error"
    (access,) = [e for e in logs if e["event"] == "access"]
    assert access["status"] == 500
    metrics = await (await client.get("/metrics")).text()
    assert 'router_requests_total{code="500",model="m",node="none"} 1.0' in metrics
    assert 'code="499"' not in metrics
