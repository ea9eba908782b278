"""The account endpoints and the pages' HTTP side, against a running router and mock node.

The one-api/new-api billing endpoints are checked in the shapes chat clients read; the
pages' security headers, and `server.ui: false`, are checked over HTTP.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import MockNodes, chat_body, http_request, node_entry, routes_yaml

pytestmark = pytest.mark.integration

KEY = "sk-account-tests-bob"
MODEL = "gemini-2.5-flash"
PRICING = {"pre_deduct": 1, "prompt_per_1k": 1, "completion_per_1k": 2}


MOCK_NODES = {"node62": ()}


def config(mock_nodes: MockNodes, *, ui: bool = True, keys: bool = True) -> str:
    return routes_yaml(
        {"node62": node_entry(mock_nodes["node62"].url)},
        {MODEL: {"backends": [{"node": "node62"}], "pricing": PRICING}},
        server={"ui": ui},
        keys=[{"name": "bob", "key": KEY, "credits": 50, "rpm": 100}] if keys else (),
        tag=f"account ui={ui} keys={keys}",
    )


def get(base: str, path: str, key: str | None = KEY) -> tuple[int, dict[str, str], object]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    status, response_headers, raw = http_request("GET", base + path, None, headers)
    try:
        document: object = json.loads(raw)
    except ValueError:
        document = raw
    return status, response_headers, document


def chat(base: str) -> None:
    body = json.dumps(chat_body(MODEL)).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, _, raw = http_request("POST", base + "/v1/chat/completions", body, headers)
    assert status == 200, raw


def test_billing_endpoints_answer_one_apis_shapes(routers, mock_nodes):
    base = routers.get(config(mock_nodes)).base_url
    status, _, before = get(base, "/v1/dashboard/billing/subscription")
    assert status == 200
    assert before == {
        "object": "billing_subscription",
        "has_payment_method": True,
        "soft_limit_usd": 50.0,
        "hard_limit_usd": 50.0,
        "system_hard_limit_usd": 50.0,
        "access_until": 0,
    }
    chat(base)
    deadline = time.monotonic() + 5
    while (account := get(base, "/api/v1/account")[2])["last_24h"]["requests"] < 1:
        assert time.monotonic() < deadline, account
        time.sleep(0.05)
    charged = account["last_24h"]["credits"]
    assert charged > 0 and account["balance"] == pytest.approx(50 - charged, abs=1e-9)
    today = datetime.now(UTC).date()
    window = f"start_date={today - timedelta(days=99)}&end_date={today + timedelta(days=1)}"
    _, _, usage = get(base, f"/v1/dashboard/billing/usage?{window}")
    assert usage == {"object": "list", "total_usage": pytest.approx(charged * 100)}
    _, _, subscription = get(base, "/api/v1/dashboard/billing/subscription")
    # What ChatGPT-Next-Web and the like show as the balance:
    shown = subscription["hard_limit_usd"] - usage["total_usage"] / 100
    assert shown == pytest.approx(account["balance"], abs=1e-9)
    _, _, none = get(base, f"/v1/dashboard/billing/usage?start_date={today + timedelta(1)}")
    assert none == {"object": "list", "total_usage": 0.0}
    status, _, bad = get(base, "/v1/dashboard/billing/usage?start_date=yesterday")
    assert status == 400 and bad["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path", ["/api/v1/account", "/v1/dashboard/billing/subscription", "/v1/dashboard/billing/usage"]
)
def test_account_endpoints_need_the_key(routers, mock_nodes, path):
    base = routers.get(config(mock_nodes)).base_url
    for key in (None, "sk-wrong"):
        status, _, body = get(base, path, key)
        assert status == 401 and body["error"]["code"] == "invalid_token", (key, body)


def test_account_without_any_keys_is_not_found(routers, mock_nodes):
    base = routers.get(config(mock_nodes, keys=False)).base_url
    status, _, body = get(base, "/api/v1/account", None)
    assert status == 404 and "auth is off" in body["error"]["message"]


@pytest.mark.parametrize("path", ["/", "/playground", "/account", "/status", "/ui/common.js"])
def test_pages_send_the_security_headers(routers, mock_nodes, path):
    base = routers.get(config(mock_nodes)).base_url
    status, headers, body = get(base, path, None)
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    if path != "/ui/common.js":
        assert headers["Content-Type"].startswith("text/html")
        assert b"<script>" not in body and b'<script type="module" src=' in body
        assert b"http://" not in body and b"https://" not in body


def test_ui_false_serves_no_page(routers, mock_nodes):
    base = routers.get(config(mock_nodes, ui=False)).base_url
    for path in ("/", "/playground", "/account", "/status", "/ui/ui.css"):
        assert get(base, path, None)[0] == 404, path
    assert get(base, "/api/v1/account")[0] == 200  # the JSON endpoints stay
