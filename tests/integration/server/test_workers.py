"""`router serve --workers N`: one port, N processes, metrics that add up, shared state."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support import chat_body, http_request, routes_yaml, start_mock_node, start_router

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, node_url: str, state: str = "") -> Path:
    text = routes_yaml({"n1": {"url": node_url}}, {"m": {"backends": [{"node": "n1"}]}})
    path = tmp_path / "routes.yaml"
    path.write_text(text + state, encoding="utf-8")
    return path


def test_memory_backend_refused_with_more_than_one_worker(tmp_path: Path) -> None:
    path = _config(tmp_path, "http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--config", str(path), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "needs shared state" in done.stderr and "redis" in done.stderr


def test_two_workers_share_the_port_and_metrics_add_up(tmp_path: Path, redis_server) -> None:
    node = start_mock_node("n1", None, log_dir=tmp_path)
    try:
        state = f"state: {{backend: redis, redis_url: '{redis_server.url}'}}\n"
        path = _config(tmp_path, node.base_url, state)
        router = start_router(path, "--workers", "2", "--log-format", "json", log_dir=tmp_path)
        try:
            body = orjson.dumps(chat_body("m"))
            for _ in range(40):
                status, _, _ = http_request(
                    "POST",
                    f"{router.base_url}/v1/chat/completions",
                    body,
                    {"Content-Type": "application/json", "Connection": "close"},
                )
                assert status == 200
            _, _, text = http_request("GET", f"{router.base_url}/metrics")
            found = re.search(
                rb'router_requests_total\{code="200",model="m",node="n1"\} (\d+)', text
            )
            assert found is not None and float(found.group(1)) == 40
            started = [
                line
                for line in map(orjson.loads, router.stdout_path.read_bytes().splitlines())
                if line.get("event") == "started"
            ]
            assert len({line["pid"] for line in started}) == 2  # two processes, one port
            # Each froze what lives as long as it does (router.heap): tens of thousands of
            # objects no full collection walks again.
            assert all(line["frozen_objects"] > 10_000 for line in started), started
            router._process.send_signal(signal.SIGTERM)
            assert router._process.wait(timeout=20) == 0
        finally:
            router.stop()
    finally:
        node.stop()
