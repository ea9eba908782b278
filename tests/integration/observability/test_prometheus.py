"""End to end: mock nodes -> router -> a real Prometheus -> the dashboard's and alerts' PromQL.

One module-scoped stack: five mock nodes, the router (short health checks, a retry budget
with no slack) and Prometheus scraping it every second with the shipped
deploy/prometheus/prometheus.yml and alerts.yml (copies rewritten for the test: the scrape
target, one-second intervals, and a few-second `for:` on the node-down alert). The fixture
sends traffic meant to move every series the dashboard reads: successes, 500s with
failover, a spent retry budget, an ejection, 400s, an unknown model, OpenAI and Gemini
streams with token usage, clients hanging up mid-stream, a good and a bad reload of
routes.yaml, and a SIGKILLed node. The tests then ask Prometheus, never the router, whether
every dashboard query has data and the node-down alert fires; and the router's /metrics
for the metric names and labels the dashboard and alerts are built on.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO_ROOT as ROOT
from tests.support import (
    TEST_SERVER,
    Proc,
    http_request,
    routes_yaml,
    start_mock_node,
    start_router,
)
from tests.support.prometheus import (
    ALERTS_YML,
    PROMETHEUS_YML,
    Prometheus,
    find_program,
    render_alerts,
    render_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


DASHBOARD = ROOT / "grafana" / "dashboard.json"

NODE_DOWN_ALERT = "RouterNodeDown"
# A minute in alerts.yml; the test cannot wait that long, so the copy Prometheus loads
# says 2s. Only the duration changes: the expression, labels and annotations are the
# shipped ones.
NODE_DOWN_FOR = "2s"
SCRAPE = "1s"
# Grafana's $__rate_interval is max(4 x scrape interval, $__interval + scrape interval):
# 20s with the provisioned 5s. A minute here covers the whole test run, so a panel has
# data whenever the traffic produced its series at all, however the phases are timed.
GRAFANA_VARS = {
    "model": ".*",  # the variables' allValue (All is their default)
    "node": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1m",
}
# Dashboard expressions that cannot have data in a short test, with the reason. Keep it
# empty unless a panel truly needs something the test cannot do; each entry is reported.
NO_DATA_EXPECTED: dict[str, str] = {}

# Mock nodes and what they do wrong.
NODES: dict[str, tuple[str, ...]] = {
    "steady": (),
    "flaky": ("--status", "500", "--error-rate", "0.3", "--seed", "7"),  # 500 sometimes
    "doomed": (),  # SIGKILLed halfway
    "broken": ("--status", "500"),  # always 500: ejected after 3 in a row
    "slow": ("--first-byte-delay", "0.3", "--chunk-delay", "0.1"),  # long streams
    "cutter": ("--cut-after", "3"),  # drops every stream after 3 events
}
FLASH, PRO, BUDGET, STREAMY, HEDGED, RESCUED, TRANSLATED = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-3.0-pro",
    "gemini-3.1-pro",
    "gemini-3.2-flash",
    "gemini-3.2-pro",
    "gemini-3.3-flash",
)
MODELS: dict[str, dict[str, Any]] = {
    FLASH: {
        "aliases": ["flash"],
        "backends": [{"node": "steady", "weight": 3}, {"node": "flaky", "weight": 1}],
    },
    # `doomed` first; once it is killed, requests fail over to `steady`.
    PRO: {"backends": [{"node": "doomed"}, {"node": "steady", "priority": 1}]},
    # `broken` first: every request fails over to `slow`, whose first byte takes 0.3 s, so
    # concurrent requests find a retry in flight and the budget (below) refuses theirs.
    BUDGET: {"backends": [{"node": "broken"}, {"node": "slow", "priority": 1}]},
    STREAMY: {"backends": [{"node": "slow"}]},
    # `slow` (first byte after 0.3 s) is raced by a hedge to `steady` after 0.1 s; the
    # session header pins a conversation to one node.
    HEDGED: {
        "backends": [{"node": "slow"}, {"node": "steady"}],
        "hedge": {"after": 0.1, "max": 1},
        "affinity": {"by": "header:X-Session-ID"},
    },
    # `cutter` drops the stream mid-answer; `steady` continues it.
    RESCUED: {
        "backends": [{"node": "cutter"}, {"node": "steady", "priority": 1}],
        "on_midstream_failure": "continue",
    },
    # `steady` again, declared Gemini-only: an OpenAI client's answers are translated.
    TRANSLATED: {"backends": [{"node": "steady-as-gemini"}]},
}
UNKNOWN_MODEL = "no-such-model-e2e"

# Metric name -> (type, label names) the dashboard, the alerts and the docs rely on.
CONTRACT: dict[str, tuple[str, frozenset[str]]] = {
    "router_requests_total": ("counter", frozenset({"model", "node", "code"})),
    "router_request_duration_seconds": ("histogram", frozenset({"model", "node"})),
    "router_time_to_first_byte_seconds": ("histogram", frozenset({"model", "node"})),
    "router_upstream_errors_total": ("counter", frozenset({"node", "reason"})),
    "router_failovers_total": ("counter", frozenset({"model", "reason"})),
    "router_retry_budget_exhausted_total": ("counter", frozenset({"model"})),
    "router_node_state": ("gauge", frozenset({"node", "state"})),
    "router_node_inflight": ("gauge", frozenset({"node"})),
    "router_node_ejections_total": ("counter", frozenset({"node"})),
    "router_inflight_requests": ("gauge", frozenset()),
    "router_streams_open": ("gauge", frozenset()),
    "router_client_disconnects_total": ("counter", frozenset({"model"})),
    "router_tokens_total": ("counter", frozenset({"model", "kind"})),
    "router_config_reloads_total": ("counter", frozenset({"result"})),
    "router_config_last_reload_timestamp_seconds": ("gauge", frozenset()),
    "process_resident_memory_bytes": ("gauge", frozenset()),
}


def routes_text(ports: dict[str, int]) -> str:
    defaults = {
        # A node whose probes fail is marked down within a second.
        "health": {"interval": 0.5, "timeout": 0.5, "unhealthy_threshold": 1},
        # Long enough that an ejected node stays ejected for the whole test.
        "ejection": {"base_seconds": 30},
        # No percentage: one retry per model and 10 s window, so a burst exhausts it.
        "retry_budget": {"percent": 0, "min_concurrent": 1},
    }
    nodes: dict[str, dict[str, Any]] = {
        name: {"url": f"http://127.0.0.1:{port}"} for name, port in ports.items()
    }
    # Probes notice the killed node only after 3 failures (>= 1.5 s), so the first request
    # sent right after the kill reaches it and fails over (a deterministic connect error,
    # using the model's one retry); that failure ejects it, so later ones go to `steady`.
    nodes["doomed"]["health"] = {"interval": 0.5, "timeout": 0.5, "unhealthy_threshold": 3}
    nodes["doomed"]["ejection"] = {"consecutive_failures": 1, "base_seconds": 30}
    nodes["steady-as-gemini"] = {**nodes["steady"], "dialect": "gemini"}
    return routes_yaml(nodes, MODELS, defaults=defaults, test_defaults=False, server=TEST_SERVER)


# --- talking to the router ----------------------------------------------------------------


@dataclass
class Stack:
    nodes: dict[str, Proc]
    router: Proc
    prometheus: Prometheus
    config_path: Path

    def post(
        self, path: str, body: object, timeout: float = 10.0, session: str | None = None
    ) -> tuple[int, bytes]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if session is not None:
            headers["X-Session-ID"] = session
        status, _, answer = http_request("POST", self.router.base_url + path, raw, headers, timeout)
        return status, answer

    def chat(self, model: str, session: str | None = None, **extra: object) -> tuple[int, bytes]:
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
        return self.post("/v1/chat/completions", body, session=session)

    def gemini(
        self, model: str, action: str, query: str = "", body: object = None
    ) -> tuple[int, bytes]:
        path = f"/v1beta/models/{model}:{action}{query}"
        default = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
        return self.post(path, default if body is None else body)

    def metrics_text(self) -> str:
        status, _, raw = http_request("GET", f"{self.router.base_url}/metrics", timeout=5.0)
        assert status == 200, raw[:300]
        return raw.decode()

    def sample(self, name: str, **labels: str) -> float:
        """Sum of the router's own samples called `name` with these labels."""
        total = 0.0
        for family in text_string_to_metric_families(self.metrics_text()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total


def hang_up_mid_stream(stack: Stack, model: str) -> None:
    """Start a stream, read its first bytes, then close the connection."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.router.port, timeout=10)
    try:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "hello"}],
            "stream": True,
        }
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200, response.read()[:300]
        assert response.read1(64), "the stream sent nothing"
    finally:
        conn.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def drive_traffic(stack: Stack) -> None:
    """Everything the dashboard should show, in phases; asserts what the client sees."""
    stream_usage = {"stream": True, "stream_options": {"include_usage": True}}

    # Long streams in the background, so several scrapes see an open stream.
    def long_streams() -> None:
        for _ in range(3):
            status, body = stack.chat(STREAMY, **stream_usage)
            assert status == 200 and b"[DONE]" in body, (status, body[:300])

    background = threading.Thread(target=long_streams, daemon=True)
    background.start()

    # Ordinary traffic, some of it to the node answering 500 at times.
    calls: list[Callable[[], tuple[int, bytes]]] = []
    for i in range(40):
        model = "flash" if i % 4 == 0 else FLASH  # an alias is recorded as its route
        calls.append(partial(stack.chat, model))
        calls.append(partial(stack.chat, model, **stream_usage))
    for _ in range(8):
        calls.append(partial(stack.gemini, FLASH, "generateContent"))
        calls.append(partial(stack.gemini, FLASH, "streamGenerateContent", "?alt=sse"))
        calls.append(partial(stack.gemini, FLASH, "streamGenerateContent"))
        calls.append(partial(stack.chat, PRO))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda call: call(), calls))
    codes = sorted({status for status, _ in results})
    assert 200 in codes, codes
    assert set(codes) <= {200, 502}, codes  # 502: flaky node's 500 with no retry left

    # Hedges (one at a time: the budget allows one retry in flight) and affinity: a
    # session's requests stay on its node, requests without the header are `none`.
    for i in range(8):
        status, body = stack.chat(HEDGED, session="s-1" if i % 2 else None)
        assert status == 200, (status, body[:300])
    assert stack.sample("router_hedges_total", model=HEDGED) > 0
    # Streams cut mid-answer, continued on the next tier (two: no ejection of `cutter`).
    for _ in range(2):
        status, body = stack.chat(RESCUED, **stream_usage)
        assert status == 200 and body.rstrip().endswith(b"[DONE]"), (status, body[-300:])
    assert stack.sample("router_continuations_total", model=RESCUED, outcome="continued") == 2
    # An OpenAI client of a Gemini-only node: the answers are translated.
    for body in ({}, stream_usage):
        status, answer = stack.chat(TRANSLATED, **body)
        assert status == 200 and b"Hello from steady" in answer, (status, answer[:300])
    assert stack.sample("router_translated_answers_total", model=TRANSLATED) == 2

    # Client errors: one the router rejects, one a node rejects (relayed as it is).
    status, _ = stack.post("/v1/chat/completions", {"model": FLASH, "messages": []})
    assert status == 400
    status, _ = stack.gemini(FLASH, "generateContent", body={"contents": "not a list"})
    assert status == 400
    # Models nobody serves: recorded as model="unknown", never by the name asked for.
    assert stack.chat(UNKNOWN_MODEL)[0] == 404
    assert stack.gemini(UNKNOWN_MODEL, "generateContent")[0] == 404

    # A burst at `broken`: every request fails over to `slow` while the first retry is
    # still waiting for its first byte, so the others are refused by the retry budget.
    with ThreadPoolExecutor(max_workers=6) as pool:
        burst = list(pool.map(lambda _: stack.chat(BUDGET), range(6)))
    burst_codes = sorted(status for status, _ in burst)
    assert 200 in burst_codes and 502 in burst_codes, burst_codes
    assert stack.sample("router_retry_budget_exhausted_total", model=BUDGET) > 0
    # `broken` is ejected after 3 failures in a row (the burst's, else these), and then
    # `slow` answers directly.
    for _ in range(5):
        if stack.sample("router_node_ejections_total", node="broken") > 0:
            break
        assert stack.chat(BUDGET)[0] == 200
    assert stack.sample("router_node_ejections_total", node="broken") > 0

    # Clients that hang up mid-stream.
    for _ in range(2):
        hang_up_mid_stream(stack, STREAMY)
    wait_for(
        "the router to count the client disconnects",
        lambda: stack.sample("router_client_disconnects_total", model=STREAMY) >= 2,
        timeout=5,
    )

    # routes.yaml changed on disk (picked up by polling), then broken, then put back.
    good = stack.config_path.read_text(encoding="utf-8")
    stack.config_path.write_text(good + "# reloaded by the test\n", encoding="utf-8")
    wait_for(
        "a successful reload",
        lambda: stack.sample("router_config_reloads_total", result="success") >= 1,
        timeout=10,
    )
    stack.config_path.write_text(good + "nodes: [\n", encoding="utf-8")
    wait_for(
        "a failed reload",
        lambda: stack.sample("router_config_reloads_total", result="failure") >= 1,
        timeout=10,
    )
    stack.config_path.write_text(good + "# reloaded by the test\n", encoding="utf-8")

    background.join(timeout=20)
    assert not background.is_alive()

    # A node dies: its requests fail over (connect errors) until it is ejected.
    stack.nodes["doomed"].kill()
    for _ in range(4):
        status, body = stack.chat(PRO)
        assert status == 200, (status, body[:300])
    wait_for(
        "`doomed` to be not healthy",
        lambda: stack.sample("router_node_state", node="doomed", state="healthy") == 0,
        timeout=5,
    )
    # More traffic after the kill so the last scrapes see a live router.
    for _ in range(5):
        assert stack.chat(FLASH, **stream_usage)[0] in (200, 502)


def wait_scraped(stack: Stack, timeout: float = 15.0) -> None:
    """Until Prometheus holds the router's current request count (traffic has stopped)."""
    want = stack.sample("router_requests_total")

    def caught_up() -> bool:
        _, result = stack.prometheus.query('sum(router_requests_total{job="router"})')
        return bool(result) and float(result[0]["value"][1]) >= want

    wait_for(f"Prometheus to scrape all {want:g} requests", caught_up, timeout, step=0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if find_program("prometheus") is None:
        pytest.fail("prometheus is missing: install Debian's `prometheus` package (make sysdeps)")
    directory = tmp_path_factory.mktemp("prometheus-e2e")
    nodes: dict[str, Proc] = {}
    router: Proc | None = None
    prometheus: Prometheus | None = None
    try:
        for name, args in NODES.items():
            nodes[name] = start_mock_node(name, None, *args, log_dir=directory)
        config_path = directory / "routes.yaml"
        ports = {name: int(proc.port or 0) for name, proc in nodes.items()}
        config_path.write_text(routes_text(ports), encoding="utf-8")
        router = start_router(config_path, log_dir=directory)

        alerts_path = directory / "alerts.yml"
        alerts_path.write_text(
            render_alerts(
                ALERTS_YML,
                shorten={NODE_DOWN_ALERT: NODE_DOWN_FOR},
                note=(
                    f"Copy of {ALERTS_YML.relative_to(ROOT)} for tests/test_prometheus_e2e.py:\n"
                    f"{NODE_DOWN_ALERT} waits {NODE_DOWN_FOR} instead of its shipped `for:`, so"
                    " it can fire within the test."
                ),
            ),
            encoding="utf-8",
        )
        prometheus_path = directory / "prometheus.yml"
        prometheus_path.write_text(
            render_config(
                PROMETHEUS_YML,
                target=f"127.0.0.1:{router.port}",
                rule_files=[alerts_path],
                interval=SCRAPE,
            ),
            encoding="utf-8",
        )
        prometheus = Prometheus(prometheus_path, directory).start()
        stack = Stack(nodes, router, prometheus, config_path)

        def router_up() -> bool:
            _, result = prometheus.query('up{job="router"} == 1')
            return bool(result)

        wait_for("Prometheus to scrape the router", router_up, timeout=15, step=0.25)
        drive_traffic(stack)
        wait_scraped(stack)
        yield stack
    except Exception:
        for proc in (*nodes.values(), router):
            if proc is not None:
                print(proc.output()[-4000:])
        if prometheus is not None:
            print(prometheus.output())
        raise
    finally:
        if prometheus is not None:
            prometheus.stop()
        if router is not None:
            router.stop()
        for proc in reversed(nodes.values()):
            proc.stop()


# --- the dashboard ------------------------------------------------------------------------


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, expr) of every query target in the dashboard, rows included."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"])
    return found


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def substitute(expr: str) -> str:
    """The expression with Grafana's variables replaced; an unknown variable fails."""

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in GRAFANA_VARS:
            raise AssertionError(f"unknown dashboard variable ${name} in {expr!r}")
        return GRAFANA_VARS[name]

    return _VARIABLE.sub(one, expr)


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def test_dashboard_has_queries() -> None:
    targets = dashboard_targets()
    assert len(targets) >= 20, targets
    for title in NO_DATA_EXPECTED:
        assert title in {t for t, _ in targets}, f"NO_DATA_EXPECTED names no panel: {title}"


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    """Each panel query, as Grafana would send it, has at least one finite sample."""
    problems: list[str] = []
    for title, expr in dashboard_targets():
        if title in NO_DATA_EXPECTED:
            continue
        query = substitute(expr)
        _, result = stack.prometheus.query(query)
        if not result:
            problems.append(f"{title}: no data\n    {query}")
        elif not has_finite_value(result):
            problems.append(f"{title}: only NaN/Inf {result}\n    {query}")
    assert not problems, "dashboard queries without data:\n" + "\n".join(problems)


# --- what the traffic must have moved, as Prometheus saw it ----------------------------------

MOVED: dict[str, str] = {
    "5xx answers": 'sum(router_requests_total{code=~"5.."})',
    "400 answers": 'sum(router_requests_total{code="400"})',
    "unknown model as model=unknown": (
        'sum(router_requests_total{model="unknown", node="none", code="404"})'
    ),
    "failovers after a 5xx": 'sum(router_failovers_total{reason="status_5xx"})',
    "failovers after a connect error": 'sum(router_failovers_total{reason="connect"})',
    "connect errors to the killed node": (
        'sum(router_upstream_errors_total{node="doomed", reason="connect"})'
    ),
    "5xx from the broken node": (
        'sum(router_upstream_errors_total{node="broken", reason="status_5xx"})'
    ),
    "retry budget exhausted": f'sum(router_retry_budget_exhausted_total{{model="{BUDGET}"}})',
    "ejections": 'sum(router_node_ejections_total{node="broken"})',
    "client disconnects": f'sum(router_client_disconnects_total{{model="{STREAMY}"}})',
    "prompt tokens": 'sum(router_tokens_total{kind="prompt"})',
    "completion tokens": 'sum(router_tokens_total{kind="completion"})',
    "reasoning tokens": 'sum(router_tokens_total{kind="reasoning"})',
    "successful reloads": 'sum(router_config_reloads_total{result="success"})',
    "failed reloads": 'sum(router_config_reloads_total{result="failure"})',
    "an open stream seen by a scrape": "max(max_over_time(router_streams_open[1m]))",
    "an in-flight request seen by a scrape": "max(max_over_time(router_inflight_requests[1m]))",
    "gemini requests": f'sum(router_requests_total{{model="{FLASH}", code="200"}})',
    "time to first byte observations": "sum(router_time_to_first_byte_seconds_count)",
    "hedges": f'sum(router_hedges_total{{model="{HEDGED}"}})',
    "affinity hits": f'sum(router_affinity_total{{model="{HEDGED}", outcome="hit"}})',
    "continued streams": f'sum(router_continuations_total{{model="{RESCUED}"}})',
}


def test_traffic_moved_every_counter(stack: Stack) -> None:
    """Not just series at zero: the events the traffic caused are counted."""
    problems = []
    for what, query in MOVED.items():
        _, result = stack.prometheus.query(query)
        value = float(result[0]["value"][1]) if result else None
        if value is None or not value > 0:
            problems.append(f"{what}: {value}  ({query})")
    assert not problems, "counters the traffic should have moved:\n" + "\n".join(problems)


def test_node_state_of_the_killed_node(stack: Stack) -> None:
    _, result = stack.prometheus.query('router_node_state{node="doomed", state="healthy"}')
    assert [float(s["value"][1]) for s in result] == [0.0]
    _, result = stack.prometheus.query('router_node_state{node="steady", state="healthy"}')
    assert [float(s["value"][1]) for s in result] == [1.0]


# --- alerts -------------------------------------------------------------------------------


def test_node_down_alert_fires_for_the_killed_node_only(stack: Stack) -> None:
    def node_down(state: str) -> set[str]:
        return {
            a["labels"].get("node", "")
            for a in stack.prometheus.alerts()
            if a["labels"].get("alertname") == NODE_DOWN_ALERT and a["state"] == state
        }

    wait_for(
        f"{NODE_DOWN_ALERT} to fire for node doomed",
        lambda: "doomed" in node_down("firing"),
        timeout=20,
        step=0.5,
    )
    # `broken` (and maybe `flaky`, after three 500s in a row) are ejected, so not healthy
    # either; nodes that never failed must stay quiet.
    active = node_down("firing") | node_down("pending")
    assert active <= {"doomed", "broken", "flaky"}, active


def test_other_alerts_match_the_traffic(stack: Stack) -> None:
    """The failed reload fires its alert (no `for:`); every model kept a healthy node."""

    doc = yaml.safe_load(ALERTS_YML.read_text(encoding="utf-8"))
    names = {rule.get("alert") for group in doc["groups"] for rule in group["rules"]}
    assert {"RouterConfigReloadFailing", "RouterModelAllNodesDown"} <= names, names

    def active(name: str) -> list[dict[str, Any]]:
        return [a for a in stack.prometheus.alerts() if a["labels"].get("alertname") == name]

    wait_for(
        "RouterConfigReloadFailing to fire",
        lambda: any(a["state"] == "firing" for a in active("RouterConfigReloadFailing")),
        timeout=10,
        step=0.5,
    )
    assert active("RouterModelAllNodesDown") == []


def test_promtool_checks_the_shipped_files() -> None:
    promtool = find_program("promtool")
    assert promtool is not None, "promtool is missing: install Debian's `prometheus` package"
    for args in (["check", "rules", ALERTS_YML], ["check", "config", PROMETHEUS_YML]):
        proc = subprocess.run(
            [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, (
            f"promtool {' '.join(map(str, args))}:\n{proc.stdout}{proc.stderr}"
        )


# --- the router's /metrics ------------------------------------------------------------------


def test_metric_contract(stack: Stack) -> None:
    """Every contract metric exists with its type and exactly its label names."""
    text = stack.metrics_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    problems = []
    for name, (kind, labels) in CONTRACT.items():
        family_name = name.removesuffix("_total") if kind == "counter" else name
        family = families.get(family_name)
        if family is None:
            problems.append(f"{name}: missing")
            continue
        if family.type != kind:
            problems.append(f"{name}: type {family.type}, expected {kind}")
        sample_names = {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        if kind != "histogram":
            sample_names = {name}
        samples = [s for s in family.samples if s.name in sample_names]
        if not samples:
            problems.append(f"{name}: no samples")
        for s in samples:
            got = set(s.labels) - {"le"}
            if got != labels:
                problems.append(f"{name}: labels {sorted(got)}, expected {sorted(labels)}")
                break
    assert not problems, "\n".join(problems)


def test_label_values_are_bounded(stack: Stack) -> None:
    text = stack.metrics_text()
    assert UNKNOWN_MODEL not in text
    models = set(MODELS) | {"unknown"}
    nodes = set(NODES) | {"steady-as-gemini", "unknown", "none"}
    seen_models: set[str] = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith("router_"):
                continue
            if "model" in s.labels:
                seen_models.add(s.labels["model"])
                assert s.labels["model"] in models, s
            if "node" in s.labels:
                assert s.labels["node"] in nodes, s
    assert "flash" not in seen_models  # an alias is recorded as its route's name
    unknown = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "router_requests_total" and s.labels["model"] == "unknown"
    ]
    assert {s.labels["code"] for s in unknown} >= {"404", "400"}, unknown
