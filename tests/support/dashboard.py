"""What the dashboard and alert tests read: grafana/'s dashboard, deploy/prometheus/'s
rules, the metric names of a PromQL expression, promtool.

tests/deploy/test_observability_files.py checks the files offline;
tests/integration/deploy/test_promtool.py runs promtool on them.
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

from router.observability.metrics import Metrics
from tests.support import REPO_ROOT as ROOT

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
    "Hedges, affinity, continuations and translations": {
        "router_hedges_total",
        "router_affinity_total",
        "router_continuations_total",
        "router_translated_answers_total",
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
