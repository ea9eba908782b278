"""The mock node as a process: `router mock-node` starts, takes its fault flags, and stops
on SIGTERM."""

from __future__ import annotations

import json

import pytest

from tests.support import chat_body, http_request
from tests.support.routes import sse_data

pytestmark = pytest.mark.integration


def test_runs_as_a_process_and_stops_on_sigterm(mock_node_factory):
    proc = mock_node_factory("node62", "--chunks", "2", "--usage", "always")
    body = json.dumps(chat_body("gemini-2.5-pro", stream=True)).encode()
    status, headers, raw = http_request(
        "POST", f"{proc.base_url}/v1/chat/completions", body, {"Content-Type": "application/json"}
    )
    assert status == 200 and headers["X-Mock-Node"] == "node62"
    data = sse_data(raw.decode())
    assert data[-1] == "[DONE]" and json.loads(data[-2])["choices"] == []
    assert "listening" in proc.output()
    proc.terminate()
    assert proc.wait() == 0


def test_process_flags_set_startup_faults(mock_node_factory):
    proc = mock_node_factory("node63", "--health-status", "503", "--status", "429", "--seed", "1")
    status, _, _ = http_request("GET", f"{proc.base_url}/health")
    assert status == 503
    status, headers, _ = http_request("POST", f"{proc.base_url}/v1/chat/completions", b"{}")
    assert status == 429 and headers["Retry-After"] == "1"
    status, _, raw = http_request("GET", f"{proc.base_url}/_mock/faults")
    assert json.loads(raw)["error_rate"] == 1.0
