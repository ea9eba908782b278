"""grafana/ and deploy/prometheus/: the dashboard and alerts use only metrics the router has.

PromQL is validated by promtool (Debian's `prometheus` package, installed by `make sysdeps`):
dashboard expressions are written into a throwaway rules file, and the alert expressions
are evaluated on synthetic series with `promtool test rules`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.observability.metrics import NODE_STATES, Metrics

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "grafana" / "dashboard.json"
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards" / "router.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

REQUIRED_PANELS = {
    # title -> metrics its queries must read
    "Requests/s by model": {"router_requests_total"},
    "Requests/s by node": {"router_requests_total"},
    "Error ratio by code": {"router_requests_total"},
    "Request duration p50/p95/p99": {"router_request_duration_seconds_bucket"},
    "Time to first byte p50/p95/p99": {"router_time_to_first_byte_seconds_bucket"},
    "Node states": {"router_node_state"},
    "In-flight requests and open streams": {"router_inflight_requests", "router_streams_open"},
    "Failovers and ejections": {"router_failovers_total", "router_node_ejections_total"},
    "Hedges, affinity and continuations": {
        "router_hedges_total",
        "router_affinity_total",
        "router_continuations_total",
    },
    "Tokens/s by kind": {"router_tokens_total"},
}
REQUIRED_ALERTS = {
    "RouterNodeDown",
    "RouterModelAllNodesDown",
    "RouterHighErrorRatio",
    "RouterSlowTimeToFirstByte",
    "RouterConfigReloadFailing",
}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$model": ".*", "$node": ".*"}


def promtool() -> str:
    path = shutil.which("promtool") or next(
        (p for p in ("/usr/bin/promtool", "/usr/sbin/promtool") if Path(p).exists()), None
    )
    if path is None:
        pytest.fail(
            "promtool is missing: install Debian's `prometheus` package (`make sysdeps` does)"
        )
    return path


def run_promtool(*args: str | Path) -> str:
    proc = subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"promtool {args}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def defined_sample_names() -> set[str]:
    """Every series name the router's registry can expose, children or not."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count", ""),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a lexer just good enough for our queries)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped
    )
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\b(\s*\()?", stripped):
        word, is_call = match.group(1), match.group(2)
        if not is_call and word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names


def substitute(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_metric_name_lexer() -> None:
    expr = (
        'sum by (code) (rate(router_requests_total{code!~"2.."}[5m])) / ignoring (code)'
        " group_left () sum(rate(router_requests_total[5m])) > 0.05 and on (job) up == 1"
    )
    assert metric_names(expr) == {"router_requests_total", "up"}


# -- dashboard ------------------------------------------------------------------------


def test_dashboard_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name in ("model", "node"):
        var = variables[name]
        query = var["definition"]
        assert var["type"] == "query"
        assert re.fullmatch(rf"label_values\((router_\w+), {name}\)", query), query
        assert metric_names(query.split("(", 1)[1].split(",")[0]) <= defined_sample_names()
        assert var["includeAll"] and var["allValue"] == ".*"
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_dashboard_shape() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] in {"${datasource}", "prometheus"}, panel["title"]
        assert panel["targets"], panel["title"]


def test_required_panels_exist_and_read_their_metrics() -> None:
    by_title = {p["title"]: p for p in panels()}
    for title, needed in REQUIRED_PANELS.items():
        assert title in by_title, f"missing panel {title!r}"
        read = set().union(*(metric_names(t["expr"]) for t in by_title[title]["targets"]))
        assert needed <= read, (title, read)
    for title in ("Request duration p50/p95/p99", "Time to first byte p50/p95/p99"):
        quantiles = [t["expr"] for t in by_title[title]["targets"]]
        for q in ("0.5", "0.95", "0.99"):
            assert any(e.startswith(f"histogram_quantile({q}, ") for e in quantiles), title
        assert all("[$__rate_interval]" in e and "le)" in e for e in quantiles)


def test_dashboard_uses_only_router_metrics() -> None:
    defined = defined_sample_names()
    for expr in exprs():
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        for name in names:
            assert name.startswith(("router_", "process_")), (name, expr)
            assert name in defined, (
                f"{name} is not defined in router/observability/families.py: {expr}"
            )


@pytest.mark.integration
def test_dashboard_promql_is_valid(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": substitute(e)}
                    for i, e in enumerate(exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run_promtool("check", "rules", path)


@pytest.mark.integration
def test_node_state_panel_encodes_states(tmp_path: Path) -> None:
    (expr,) = [t["expr"] for p in panels() if p["title"] == "Node states" for t in p["targets"]]
    states = ("healthy", "ejected", "probing", "draining", "disabled", "unproven")
    assert set(states) == set(NODE_STATES)  # a new state must get a value in the panel
    series = []
    for node, current in zip("abcdef", states, strict=True):
        for state in states:
            v = 1 if state == current else 0
            series.append(
                {
                    "series": f'router_node_state{{node="{node}",state="{state}"}}',
                    "values": f"{v}x3",
                }
            )
    expected = [
        {"labels": '{node="a"}', "value": 0},
        {"labels": '{node="b"}', "value": 1},
        {"labels": '{node="c"}', "value": 2},
        {"labels": '{node="d"}', "value": 3},
        {"labels": '{node="e"}', "value": 4},
        {"labels": '{node="f"}', "value": 5},
    ]
    unit_test(
        tmp_path, series, [{"expr": substitute(expr), "eval_time": "1m", "exp_samples": expected}]
    )


# -- grafana provisioning -------------------------------------------------------------


def test_grafana_provisioning() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# -- prometheus config and alerts -----------------------------------------------------


@pytest.mark.integration
def test_prometheus_config_is_valid_and_rewritable(tmp_path: Path) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "router"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:8080"]}]
    run_promtool("check", "config", PROMETHEUS)
    # The integration test renders the file for the port it started the router on.
    (tmp_path / "prometheus.yml").write_text(
        PROMETHEUS.read_text().replace("127.0.0.1:8080", "127.0.0.1:18123")
    )
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    run_promtool("check", "config", tmp_path / "prometheus.yml")


@pytest.mark.integration
def test_alert_rules_are_valid() -> None:
    run_promtool("check", "rules", ALERTS)


def test_alerts_exist_and_use_only_router_metrics() -> None:
    rules = alert_rules()
    missing = REQUIRED_ALERTS - set(rules)
    assert not missing, f"missing alerts: {sorted(missing)}"
    assert rules["RouterNodeDown"]["for"] == "1m"
    assert rules["RouterHighErrorRatio"]["for"] == "5m"
    defined = defined_sample_names() | {"up"}
    for name, rule in rules.items():
        for metric in metric_names(rule["expr"]):
            assert metric in defined, f"{name}: {metric} is not a router metric"


def unit_test(tmp_path: Path, series: list[dict[str, str]], tests: list[dict[str, Any]]) -> None:
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    path = tmp_path / "unit.yml"
    path.write_text(yaml.safe_dump(spec))
    run_promtool("test", "rules", path)


@pytest.mark.integration
def test_node_alerts_fire_on_synthetic_series(tmp_path: Path) -> None:
    rules = alert_rules()
    where = 'job="router",instance="r:1"'
    healthy = {"a": "0x5", "b": "0x5", "c": "1x5"}
    routes = {"m1": "ab", "m2": "bc"}
    series = [
        {"series": f'router_node_state{{{where},node="{n}",state="healthy"}}', "values": v}
        for n, v in healthy.items()
    ] + [
        {"series": f'router_model_node_info{{{where},model="{m}",node="{n}"}}', "values": "1x5"}
        for m, nodes in routes.items()
        for n in nodes
    ]
    down = [
        {"labels": f'router_node_state{{{where},node="{n}",state="healthy"}}', "value": 0}
        for n in "ab"
    ]
    tests = [
        {"expr": rules["RouterNodeDown"]["expr"], "eval_time": "2m", "exp_samples": down},
        {
            "expr": rules["RouterModelAllNodesDown"]["expr"],
            "eval_time": "2m",
            "exp_samples": [{"labels": f'{{{where},model="m1"}}', "value": 0}],
        },
    ]
    unit_test(tmp_path, series, tests)


@pytest.mark.integration
def test_error_and_reload_alerts_fire_on_synthetic_series(tmp_path: Path) -> None:
    rules = alert_rules()
    where = 'job="router",instance="r:1"'

    def requests(model: str, code: str, per_minute: int) -> dict[str, str]:
        labels = f'{where},model="{model}",node="a",code="{code}"'
        return {"series": f"router_requests_total{{{labels}}}", "values": f"0+{per_minute}x10"}

    series = [
        requests("m1", "200", 80),
        requests("m1", "502", 20),  # 20% errors: fires
        requests("m2", "200", 100),
        requests("m2", "503", 1),  # 1%: does not
        {
            "series": f'router_config_reloads_total{{{where},result="failure"}}',
            "values": "0 0 1 1 1 1 1 1 1 1 1",
        },
    ]
    tests = [
        {
            "expr": f"({rules['RouterHighErrorRatio']['expr']}) > bool 0",
            "eval_time": "10m",
            "exp_samples": [{"labels": '{job="router",model="m1"}', "value": 1}],
        },
        {
            "expr": f"({rules['RouterConfigReloadFailing']['expr']}) > bool 0",
            "eval_time": "5m",
            "exp_samples": [{"labels": f'{{{where},result="failure"}}', "value": 1}],
        },
    ]
    unit_test(tmp_path, series, tests)
