"""Replicas sharing Redis share node decisions: ejections, 401 disables, drain/enable."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.support import (
    chat_body,
    http_request,
    routes_yaml,
    start_mock_node,
    start_router,
    stop_all,
)

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer t0ken"}


def _state(base: str, node: str) -> str:
    _, _, body = http_request("GET", f"{base}/admin/nodes", headers=ADMIN)
    return orjson.loads(body)["nodes"][node]["state"]


def _wait_state(base: str, node: str, state: str, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if _state(base, node) == state:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{node} on {base} is {_state(base, node)}, not {state}")


def test_ejection_and_drain_reach_every_replica(tmp_path: Path, redis_server) -> None:
    bad = start_mock_node("bad", None, "--status", "500", log_dir=tmp_path)
    good = start_mock_node("good", None, log_dir=tmp_path)
    routers = []
    try:
        text = routes_yaml(
            {"bad": {"url": bad.base_url}, "good": {"url": good.base_url}},
            {"m": {"backends": [{"node": "bad"}, {"node": "good"}]}},
            server={"admin_token": "t0ken"},
            defaults={
                "health": False,
                "ejection": {"consecutive_failures": 2, "base_seconds": 30, "max_percent": 50},
            },
        )
        text += f"state: {{backend: redis, redis_url: '{redis_server.url}', prefix: 'sync:'}}\n"
        path = tmp_path / "routes.yaml"
        path.write_text(text, encoding="utf-8")
        routers = [start_router(path, log_dir=tmp_path) for _ in range(2)]
        a, b = (r.base_url for r in routers)
        assert _state(b, "bad") == "healthy"
        body = orjson.dumps(chat_body("m"))
        for _ in range(6):  # only replica A sees the failures
            status, _, _ = http_request("POST", f"{a}/v1/chat/completions", body)
            assert status == 200
        assert _state(a, "bad") == "ejected"
        _wait_state(b, "bad", "ejected", within=1.0)
        # B sends nothing to the ejected node
        before = orjson.loads(http_request("GET", f"{bad.base_url}/_mock/stats")[2])["requests"]
        for _ in range(4):
            assert http_request("POST", f"{b}/v1/chat/completions", body)[0] == 200
        after = orjson.loads(http_request("GET", f"{bad.base_url}/_mock/stats")[2])["requests"]
        assert after == before

        status, _, _ = http_request("POST", f"{a}/admin/nodes/good/drain", headers=ADMIN)
        assert status == 200
        _wait_state(b, "good", "draining", within=1.0)
        status, _, _ = http_request("POST", f"{b}/admin/nodes/good/enable", headers=ADMIN)
        assert status == 200
        _wait_state(a, "good", "healthy", within=1.0)
    finally:
        stop_all([*routers, bad, good])
