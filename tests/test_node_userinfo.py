"""A node URL with userinfo (`http://user:pass@host`, issue 17 item 10): its credentials
become Basic auth for requests and probes, and never show in /admin/config or errors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from router.config.loader import parse_config
from router.errors import ConfigError
from router.upstream.reasons import Redactor
from tests.support import MockNodes, Proc, Routers, chat_body, http_request, routes_yaml

ADMIN = "userinfo-admin-token"
USER, PASSWORD = "ops", "p@ss:w0rd"
QUOTED = "p%40ss%3Aw0rd"

CONFIG = """\
version: 1
nodes:
  a: {{url: "{url}"{extra}}}
models:
  m: {{backends: [{{node: a}}]}}
"""


def test_userinfo_becomes_basic_auth_and_leaves_the_url() -> None:
    url = f"http://{USER}:{QUOTED}@127.0.0.1:9001/base"
    node = parse_config(CONFIG.format(url=url, extra=""), environ={}).nodes["a"]
    assert node.url == "http://127.0.0.1:9001/base"
    assert node.basic_auth == f"{USER}:{PASSWORD}"  # percent-decoded
    assert PASSWORD not in repr(node) and QUOTED not in repr(node)
    message = f"upstream said: bad credentials {PASSWORD} for {USER}"
    assert PASSWORD not in Redactor([node]).clean(message)


def test_userinfo_and_api_key_together_are_refused() -> None:
    url = f"http://{USER}:{QUOTED}@127.0.0.1:9001"
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(url=url, extra=', api_key: "k"'), environ={})
    assert [p.path for p in info.value.problems] == ["nodes.a.url"]
    assert "api_key" in info.value.problems[0].message
    assert QUOTED not in str(info.value) and PASSWORD not in str(info.value)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockNodes]:
    mocks = MockNodes(tmp_path_factory.mktemp("userinfo-nodes"))
    try:
        mocks.start({"a": ()})
        yield mocks
    finally:
        mocks.stop()


@pytest.fixture(scope="module")
def router(nodes: MockNodes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    routers = Routers(tmp_path_factory.mktemp("userinfo-routers"))
    url = nodes["a"].url.replace("http://", f"http://{USER}:{QUOTED}@")
    health = {"path": "/health", "interval": 0.2, "timeout": 1, "unhealthy_threshold": 2}
    config = routes_yaml(
        {"a": {"url": url, "health": health}},
        {"m": {"backends": [{"node": "a"}]}},
        server={"admin_token": ADMIN},
    )
    try:
        yield routers.get(config)
    finally:
        routers.stop()


def _admin(router: Proc, path: str) -> tuple[int, bytes]:
    status, _, body = http_request(
        "GET", router.base_url + path, None, {"Authorization": f"Bearer {ADMIN}"}
    )
    return status, body


@pytest.mark.integration
def test_requests_carry_basic_auth(router: Proc, nodes: MockNodes) -> None:
    body = json.dumps(chat_body("m")).encode()
    status, _, raw = http_request(
        "POST", router.base_url + "/v1/chat/completions", body, {"Content-Type": "application/json"}
    )
    assert status == 200, raw[:300]
    seen = nodes["a"].last_request()
    assert seen is not None
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert seen["headers"]["Authorization"] == f"Basic {token}"


@pytest.mark.integration
def test_admin_config_masks_the_credentials(router: Proc) -> None:
    status, raw = _admin(router, "/admin/config")
    assert status == 200
    text = raw.decode()
    assert QUOTED not in text and PASSWORD not in text and f"{USER}:" not in text
    node = json.loads(raw)["nodes"]["a"]
    assert node["basic_auth"] == "***" and "@" not in node["url"]


@pytest.mark.integration
def test_the_node_is_probed(router: Proc, nodes: MockNodes) -> None:
    time.sleep(1.0)  # five probe intervals: a node the probes cannot reach is out by now
    entry = json.loads(_admin(router, "/admin/nodes")[1])["nodes"]["a"]
    assert (entry["state"], entry["reason"]) == ("healthy", None), entry
    nodes["a"].faults(health_status=503)
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
        nodes["a"].faults(reset=True)
