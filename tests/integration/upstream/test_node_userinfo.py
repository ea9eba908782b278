"""A node URL with userinfo (`http://user:pass@host`, issue 17 item 10): its credentials
become Basic auth for requests and probes, and never show in /admin/config or errors."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.support import MockNodes, Proc, Routers, chat_body, http_request, routes_yaml

pytestmark = pytest.mark.integration

ADMIN = "userinfo-admin-token"
USER, PASSWORD = "ops", "p@ss:w0rd"
QUOTED = "p%40ss%3Aw0rd"


MOCK_NODES = {"a": ()}


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    url = mock_nodes["a"].url.replace("http://", f"http://{USER}:{QUOTED}@")
    health = {"path": "/health", "interval": 0.2, "timeout": 1, "unhealthy_threshold": 2}
    config = routes_yaml(
        {"a": {"url": url, "health": health}},
        {"m": {"backends": [{"node": "a"}]}},
        server={"admin_token": ADMIN},
    )
    return routers.get(config)


def _admin(router: Proc, path: str) -> tuple[int, bytes]:
    status, _, body = http_request(
        "GET", router.base_url + path, None, {"Authorization": f"Bearer {ADMIN}"}
    )
    return status, body


def test_requests_carry_basic_auth(router: Proc, mock_nodes: MockNodes) -> None:
    body = json.dumps(chat_body("m")).encode()
    status, _, raw = http_request(
        "POST", router.base_url + "/v1/chat/completions", body, {"Content-Type": "application/json"}
    )
    assert status == 200, raw[:300]
    seen = mock_nodes["a"].last_request()
    assert seen is not None
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert seen["headers"]["Authorization"] == f"Basic {token}"


def test_admin_config_masks_the_credentials(router: Proc) -> None:
    status, raw = _admin(router, "/admin/config")
    assert status == 200
    text = raw.decode()
    assert QUOTED not in text and PASSWORD not in text and f"{USER}:" not in text
    node = json.loads(raw)["nodes"]["a"]
    assert node["basic_auth"] == "***" and "@" not in node["url"]


def test_the_node_is_probed(router: Proc, mock_nodes: MockNodes) -> None:
    time.sleep(1.0)  # five probe intervals: a node the probes cannot reach is out by now
    entry = json.loads(_admin(router, "/admin/nodes")[1])["nodes"]["a"]
    assert (entry["state"], entry["reason"]) == ("healthy", None), entry
    mock_nodes["a"].faults(health_status=503)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            entry = json.loads(_admin(router, "/admin/nodes")[1])["nodes"]["a"]
            if entry["state"] != "healthy":
                break
            time.sleep(0.1)
        # The probes reach the node (with its credentials) and see its 503.
        assert (entry["state"], entry["reason"]) == ("ejected", "health_check"), entry
    finally:
        mock_nodes["a"].faults(reset=True)
