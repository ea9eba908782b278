"""grafana/ and deploy/prometheus/ checked by promtool: the dashboard's PromQL, the
Prometheus config, the alert rules, and the alerts firing on synthetic series.

The offline checks of the same files are in tests/deploy/test_observability_files.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.observability.metrics import NODE_STATES
from tests.support.dashboard import (
    ALERTS,
    PROMETHEUS,
    alert_rules,
    exprs,
    panels,
    run_promtool,
    substitute,
)

pytestmark = pytest.mark.integration


def unit_test(tmp_path: Path, series: list[dict[str, str]], tests: list[dict[str, Any]]) -> None:
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    path = tmp_path / "unit.yml"
    path.write_text(yaml.safe_dump(spec))
    run_promtool("test", "rules", path)


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


def test_alert_rules_are_valid() -> None:
    run_promtool("check", "rules", ALERTS)


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
