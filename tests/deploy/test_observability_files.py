"""grafana/ and deploy/prometheus/: the dashboard and alerts use only metrics the router has.

PromQL is validated by promtool (Debian's `prometheus` package, installed by `make sysdeps`):
dashboard expressions are written into a throwaway rules file, and the alert expressions
are evaluated on synthetic series with `promtool test rules`.
"""

from __future__ import annotations

import re

import yaml

from tests.support.dashboard import (
    DATASOURCES,
    PROVIDERS,
    REQUIRED_ALERTS,
    REQUIRED_PANELS,
    alert_rules,
    dashboard,
    defined_sample_names,
    exprs,
    metric_names,
    panels,
)


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


# -- grafana provisioning -------------------------------------------------------------


def test_grafana_provisioning() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# -- prometheus config and alerts -----------------------------------------------------


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
