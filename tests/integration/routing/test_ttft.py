"""`strategy: latency` and `affinity:` on a real router in front of three real mock nodes.

Node `slow` takes 0.4 s to its first byte; `fast1` and `fast2` answer at once. Under
`latency` the slow node gets a small share once it has been measured; with affinity a
session stays on its node while that node is healthy and moves when it is drained.
"""

from __future__ import annotations

import collections
import json

import pytest

from tests.support import MockNodes, Proc, Routers, chat_body, http_request, routes_yaml

pytestmark = pytest.mark.integration

ADMIN = "ttft-admin-token"
NODES = ("fast1", "fast2", "slow")


MOCK_NODES = {"fast1": (), "fast2": (), "slow": ("--first-byte-delay", "0.4")}


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    backends = [{"node": name} for name in NODES]
    models = {
        "m-latency": {"strategy": "latency", "backends": backends},
        "m-weighted": {"backends": backends},
        "m-sticky": {"affinity": {"by": "header:X-Session-ID"}, "backends": backends},
    }
    config = routes_yaml(
        {name: {"url": mock_nodes[name].url} for name in NODES},
        models,
        server={"admin_token": ADMIN},
    )
    return routers.get(config)


def _ask(router: Proc, model: str, headers: dict[str, str] | None = None) -> str:
    status, answer_headers, body = http_request(
        "POST",
        router.base_url + "/v1/chat/completions",
        json.dumps(chat_body(model)).encode(),
        {"Content-Type": "application/json", **(headers or {})},
        timeout=10,
    )
    assert status == 200, body[:300]
    return answer_headers["X-Mock-Node"]


def _metric(router: Proc, name: str, **labels: str) -> float:
    _, _, text = http_request("GET", router.base_url + "/metrics")
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.decode().splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in wanted.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_latency_shifts_traffic_to_the_fast_nodes(router: Proc) -> None:
    latency = collections.Counter(_ask(router, "m-latency") for _ in range(90))
    weighted = collections.Counter(_ask(router, "m-weighted") for _ in range(30))
    assert weighted["slow"] == 10, weighted  # round-robin: a third, whatever its speed
    # Measured once (or a few times, as its cost fades and it is tried again), it loses
    # every pairing with a fast node: far less than a third.
    assert 1 <= latency["slow"] <= 12, latency
    assert latency["fast1"] + latency["fast2"] >= 78, latency


def test_a_session_stays_on_its_node_and_moves_when_it_is_drained(router: Proc) -> None:
    homes = {}
    for session in ("alpha", "beta", "gamma", "delta"):
        seen = {_ask(router, "m-sticky", {"X-Session-ID": session}) for _ in range(8)}
        assert len(seen) == 1, (session, seen)  # 100% on one node while it is healthy
        homes[session] = seen.pop()
    hits = _metric(router, "router_affinity_total", model="m-sticky", outcome="hit")
    assert hits == 32
    session, home = next(iter(homes.items()))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    url = f"{router.base_url}/admin/nodes/{home}"
    assert http_request("POST", url + "/drain", b"", admin)[0] == 200
    try:
        moved = {_ask(router, "m-sticky", {"X-Session-ID": session}) for _ in range(5)}
        assert home not in moved and len(moved) == 1, moved  # moved, and sticks there
        assert _metric(router, "router_affinity_total", model="m-sticky", outcome="moved") == 5
    finally:
        assert http_request("POST", url + "/enable", b"", admin)[0] == 200
    assert _ask(router, "m-sticky", {"X-Session-ID": session}) == home  # back home
    _ask(router, "m-sticky")
    assert _metric(router, "router_affinity_total", model="m-sticky", outcome="none") == 1
