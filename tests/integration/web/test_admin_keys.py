"""The admin API's keys and usage (issue 30) on a live router, memory and Redis backends.

What the console relies on: a key created through the API works at once and is shown
once; a top-up moves the balance by exactly its amount; a disabled key is refused at its
next request (401 key_disabled) and an enabled one served again; the ledger view filters,
pages and totals; the CSV's credits add up to what the key was charged (the balance
change); every admin call is in the access log with the operator's address.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import (
    Proc,
    RedisServer,
    chat_body,
    http_request,
    node_entry,
    routes_yaml,
    start_mock_node,
    start_router,
)

pytestmark = pytest.mark.integration

TOKEN = "admin-token-for-the-keys-tests"
MODEL = "gemini-2.5-flash"
PRICING = {"prompt_per_1k": 1, "completion_per_1k": 10}


def config(node_url: str, state: dict[str, Any] | None = None, keyless: bool = False) -> str:
    keys = [] if keyless else [{"name": "static-one", "hash": "0" * 64, "credits": 5}]
    return routes_yaml(
        {"node62": node_entry(node_url)},
        {
            MODEL: {"backends": [{"node": "node62"}], "pricing": PRICING},
            "gemini-2.5-pro": {"backends": [{"node": "node62"}], "pricing": PRICING},
        },
        server={"admin_token": TOKEN},
        state=state,
        keys=keys,
    )


class Site:
    def __init__(self, router: Proc) -> None:
        self.router = router

    def admin(self, method: str, path: str, body: Any = None, token: str = TOKEN) -> Any:
        data = None if body is None else orjson.dumps(body)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, _, raw = http_request(method, self.router.base_url + path, data, headers)
        return status, (orjson.loads(raw) if raw.startswith(b"{") else raw.decode())

    def chat(self, key: str, model: str = MODEL) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = orjson.dumps(chat_body(model, max_tokens=50))
        status, _, raw = http_request(
            "POST", self.router.base_url + "/v1/chat/completions", body, headers
        )
        return status, orjson.loads(raw)


def start(tmp: Path, state: dict[str, Any] | None = None, keyless: bool = False) -> Iterator[Site]:
    node = start_mock_node("node62", log_dir=tmp)
    path = tmp / "routes.yaml"
    path.write_text(config(node.base_url, state, keyless), encoding="utf-8")
    router = start_router(path, log_dir=tmp)
    try:
        yield Site(router)
    finally:
        router.stop()
        node.stop()


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start(tmp_path_factory.mktemp("admin-keys-memory"))


@pytest.fixture(scope="module")
def redis_site(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Site]:
    state = {"backend": "redis", "redis_url": redis_server.url}
    yield from start(tmp_path_factory.mktemp("admin-keys-redis"), state)


def balance_of(site: Site, name: str) -> Decimal:
    status, listing = site.admin("GET", "/admin/keys")
    assert status == 200, listing
    [row] = [k for k in listing["keys"] if k["name"] == name]
    return Decimal(str(row["credits"]))


def test_a_key_made_in_the_console_works_is_topped_up_disabled_and_exported(memory: Site):
    site = memory
    status, made = site.admin(
        "POST",
        "/admin/keys",
        {"name": "team-c", "credits": "100", "rpm": 600, "tpm": "", "models": "gemini-*"},
    )
    assert status == 201, made
    key = made["key"]
    assert key.startswith("sk-") and made["record"]["credits"] == 100
    assert made["persistent"] is False and "restarts" in made["note"]
    assert made["routes_yaml_entry"].startswith("{name: team-c, hash: ")
    assert key not in made["routes_yaml_entry"]
    # Shown once: the listing never carries it.
    assert key not in str(site.admin("GET", "/admin/keys")[1])
    assert site.admin("POST", "/admin/keys", {"name": "team-c"})[0] == 409
    assert site.admin("POST", "/admin/keys", {"name": "static-one"})[0] == 409

    for _ in range(3):
        assert site.chat(key)[0] == 200
    after_use = balance_of(site, "team-c")
    assert after_use < 100

    status, topped = site.admin("POST", "/admin/keys/team-c/credits", {"amount": "+25.5"})
    assert status == 200, topped
    assert Decimal(str(topped["balance"])) == after_use + Decimal("25.5")

    assert site.admin("POST", "/admin/keys/team-c/disable")[0] == 200
    status, refused = site.chat(key)
    assert (status, refused["error"]["code"]) == (401, "key_disabled")
    assert site.admin("POST", "/admin/keys/team-c/enable")[0] == 200
    assert site.chat(key)[0] == 200

    final = balance_of(site, "team-c")
    status, text = site.admin("GET", "/admin/usage.csv?key=team-c")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and {r["key"] for r in rows} == {"team-c"}
    spent = sum(Decimal(r["credits"]) for r in rows)
    assert spent == Decimal(100) + Decimal("25.5") - final  # the CSV is the balance change

    status, listing = site.admin("GET", "/admin/keys")
    [row] = [k for k in listing["keys"] if k["name"] == "team-c"]
    assert row["rpm"] == 600 and row["tpm"] is None and row["models"] == ["gemini-*"]
    assert row["last_used"] is not None and row["disabled"] is False


def test_usage_filters_pages_and_totals(memory: Site):
    site = memory
    status, made = site.admin("POST", "/admin/keys", {"name": "team-d", "credits": 50})
    assert status == 201
    for model in (MODEL, MODEL, "gemini-2.5-pro"):
        assert site.chat(made["key"], model)[0] == 200
    status, page = site.admin("GET", "/admin/usage?key=team-d&limit=2")
    assert status == 200, page
    assert page["total"] == 3 and len(page["records"]) == 2
    assert page["records"][0]["time"] >= page["records"][1]["time"]
    status, rest = site.admin("GET", "/admin/usage?key=team-d&limit=2&offset=2")
    assert len(rest["records"]) == 1
    ids = {r["request_id"] for r in page["records"] + rest["records"]}
    assert len(ids) == 3
    status, pro = site.admin("GET", "/admin/usage?key=team-d&model=gemini-2.5-pro")
    assert pro["total"] == 1 and pro["records"][0]["model"] == "gemini-2.5-pro"
    status, failed = site.admin("GET", "/admin/usage?key=team-d&outcome=failed")
    assert failed["total"] == 0
    totals = page["totals"]
    assert totals["requests"] == 3 and set(totals["tokens"]) == {"prompt", "answer", "reasoning"}
    assert Decimal(str(totals["credits"])) == Decimal(50) - balance_of(site, "team-d")
    hourly = page["hourly"]
    assert len(hourly["hour_starts"]) >= 24
    assert set(hourly["by_key"]) == {"team-d"} and set(hourly["by_model"]) == {
        MODEL,
        "gemini-2.5-pro",
    }
    assert site.admin("GET", "/admin/usage?since=yesterday")[0] == 400
    assert site.admin("GET", "/admin/usage?outcome=nope")[0] == 400
    assert site.admin("GET", "/admin/usage?since=1h")[0] == 200


def test_the_new_endpoints_need_the_token(memory: Site):
    for method, path in (
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys"),
        ("POST", "/admin/keys/team-c/credits"),
        ("POST", "/admin/keys/team-c/disable"),
        ("POST", "/admin/keys/team-c/enable"),
        ("GET", "/admin/usage"),
        ("GET", "/admin/usage.csv"),
    ):
        status, body = memory.admin(method, path, {}, token="wrong")
        assert status == 401, (path, body)


def test_bad_requests_are_named(memory: Site):
    cases = [
        ({"name": ""}, "name is required"),
        ({"name": "x y"}, "must be 1-64"),
        ({"name": "ok", "rpm": -1}, "rpm must be"),
        ({"name": "ok", "credits": "lots"}, "credits must be a number"),
    ]
    for body, words in cases:
        status, answer = memory.admin("POST", "/admin/keys", body)
        assert status == 400 and words in answer["error"]["message"], (body, answer)
    status, answer = memory.admin("POST", "/admin/keys/nobody/credits", {"amount": 5})
    assert status == 404
    status, answer = memory.admin("POST", "/admin/keys/static-one/credits", {"amount": ""})
    assert status == 400


def test_every_admin_call_is_in_the_access_log(memory: Site):
    # Its own actions: the test passes alone and in any order (it read another test's).
    assert memory.admin("POST", "/admin/keys", {"name": "logged", "credits": 1})[0] == 201
    assert memory.admin("POST", "/admin/keys/logged/disable")[0] == 200
    memory.admin("GET", "/admin/keys")
    memory.admin("GET", "/admin/keys", token="wrong")
    lines = [
        orjson.loads(line)
        for line in memory.router.output().splitlines()
        if line.startswith("{") and '"event":"admin"' in line
    ]
    statuses = {(line["method"], line["path"], line["status"]) for line in lines}
    assert ("GET", "/admin/keys", 200) not in statuses  # a read is logged at debug only
    assert ("GET", "/admin/keys", 401) in statuses
    assert ("POST", "/admin/keys", 201) in statuses
    assert ("POST", "/admin/keys/logged/disable", 200) in statuses
    assert all(
        line["client"] == "127.0.0.1" and line["logger"] == "router.access" for line in lines
    )
    assert TOKEN not in memory.router.output()


def test_redis_keeps_keys_and_switches_them(redis_site: Site):
    site = redis_site
    status, made = site.admin("POST", "/admin/keys", {"name": "shared", "credits": 10})
    assert status == 201 and made["persistent"] is True and "routes_yaml_entry" not in made
    assert site.chat(made["key"])[0] == 200
    assert site.admin("POST", "/admin/keys/shared/disable")[0] == 200
    assert site.chat(made["key"])[0] == 401
    assert site.admin("POST", "/admin/keys/shared/enable")[0] == 200
    assert site.chat(made["key"])[0] == 200
    status, topped = site.admin("POST", "/admin/keys/shared/credits", {"amount": "-1"})
    assert status == 200 and Decimal(str(topped["balance"])) == balance_of(site, "shared")


def test_the_first_key_made_on_an_open_router_turns_auth_on(tmp_path: Path):
    for site in start(tmp_path, keyless=True):
        status, listing = site.admin("GET", "/admin/keys")
        assert (status, listing["auth_off"], listing["keys"]) == (200, True, [])
        assert site.chat("anything")[0] == 200  # no keys anywhere: auth is off
        status, made = site.admin("POST", "/admin/keys", {"name": "first", "credits": 1})
        assert status == 201
        status, refused = site.chat("anything")
        assert (status, refused["error"]["code"]) == (401, "invalid_token")
        assert site.chat(made["key"])[0] == 200
        assert site.admin("POST", "/admin/reload")[0] == 200  # a reload keeps it on
        assert site.chat("anything")[0] == 401
        assert site.admin("GET", "/admin/keys")[1]["auth_off"] is False
