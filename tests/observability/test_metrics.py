"""router.observability.metrics: the metric names and labels are a contract (issue 5)."""

from __future__ import annotations

from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from router.config.model import Backend, Config, Defaults, ModelRoute, NodeConfig, ServerConfig
from router.observability.families import LATENCY_BUCKETS
from router.observability.metrics import (
    NODE_STATES,
    UPSTREAM_ERROR_REASONS,
    Metrics,
)
from router.observability.single_process import DURATION, REQUESTS, TOKENS, TTFB, status_label
from router.routing.health import NodeState
from tests.support.observability import samples, value

# sample name -> its label names (besides `le` on buckets, checked separately)
CONTRACT: dict[str, set[str]] = {
    "router_requests_total": {"model", "node", "code"},
    "router_request_duration_seconds_bucket": {"model", "node", "le"},
    "router_request_duration_seconds_sum": {"model", "node"},
    "router_request_duration_seconds_count": {"model", "node"},
    "router_time_to_first_byte_seconds_bucket": {"model", "node", "le"},
    "router_upstream_errors_total": {"node", "reason"},
    "router_failovers_total": {"model", "reason"},
    "router_retry_budget_exhausted_total": {"model"},
    "router_node_state": {"node", "state"},
    "router_node_inflight": {"node"},
    "router_node_ejections_total": {"node"},
    "router_inflight_requests": set(),
    "router_streams_open": set(),
    "router_client_disconnects_total": {"model"},
    "router_tokens_total": {"model", "kind"},
    "router_config_reloads_total": {"result"},
    "router_config_last_reload_timestamp_seconds": set(),
    "router_auth_failures_total": {"reason"},
    "router_rate_limited_total": {"model"},
    "router_credits_charged_total": {"model"},
    "router_credits_refunded_total": {"model"},
    # prometheus-client's default collectors, on our registry
    "process_cpu_seconds_total": set(),
    "process_resident_memory_bytes": set(),
    "python_gc_objects_collected_total": {"generation"},
    "python_info": {"implementation", "major", "minor", "patchlevel", "version"},
}


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    m.set_routes({"gpt-4o": ["a", "b"], "llama": ["b"]}, nodes=["c"])
    return m


def exercise(m: Metrics) -> None:
    route = m.route("gpt-4o", "a")
    route.first_byte(0.2)
    route.finished(200, 1.5)
    route.add_tokens(prompt=10, completion=20, reasoning=5)
    route.client_disconnected()
    m.route("gpt-4o", "none").finished(503, 0.01)
    m.upstream_error("b", "timeout")
    m.failover("gpt-4o", "timeout")
    m.retry_budget_exhausted("gpt-4o")
    m.set_node_state("a", NodeState.HEALTHY)
    m.node_ejected("b")
    m.node("a").inflight.inc()
    m.inflight_requests.inc()
    m.streams_open.inc()
    m.config_reloaded(success=True)
    m.config_reloaded(success=False)
    m.auth_failure("invalid")
    m.rate_limited("gpt-4o")
    m.credits_settled("gpt-4o", 1.25, 0.5)


def test_every_contract_metric_is_rendered_with_its_labels(metrics: Metrics) -> None:
    exercise(metrics)
    seen: dict[str, set[str]] = {}
    for name, labels, _ in samples(metrics):
        seen.setdefault(name, set(labels))
    missing = sorted(set(CONTRACT) - set(seen))
    assert not missing, f"not rendered: {missing}"
    for name, expected in CONTRACT.items():
        assert seen[name] == expected, name


def test_recorded_values(metrics: Metrics) -> None:
    exercise(metrics)
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="200") == 1
    assert value(metrics, "router_requests_total", model="gpt-4o", node="none", code="503") == 1
    assert value(metrics, "router_tokens_total", model="gpt-4o", kind="prompt") == 10
    assert value(metrics, "router_tokens_total", model="gpt-4o", kind="completion") == 20
    assert value(metrics, "router_tokens_total", model="gpt-4o", kind="reasoning") == 5
    assert value(metrics, "router_upstream_errors_total", node="b", reason="timeout") == 1
    assert value(metrics, "router_failovers_total", model="gpt-4o", reason="timeout") == 1
    assert value(metrics, "router_node_ejections_total", node="b") == 1
    assert value(metrics, "router_config_reloads_total", result="success") == 1
    assert value(metrics, "router_config_reloads_total", result="failure") == 1
    assert value(metrics, "router_credits_charged_total", model="gpt-4o") == 1.25
    assert value(metrics, "router_request_duration_seconds_sum", model="gpt-4o", node="a") == 1.5
    ttfb = "router_time_to_first_byte_seconds_bucket"
    assert value(metrics, ttfb, model="gpt-4o", node="a", le="0.1") == 0
    assert value(metrics, ttfb, model="gpt-4o", node="a", le="0.25") == 1
    stamp = value(metrics, "router_config_last_reload_timestamp_seconds")
    assert stamp is not None and stamp > 1e9


def test_buckets_span_5ms_to_600s(metrics: Metrics) -> None:
    assert LATENCY_BUCKETS[0] == 0.005 and LATENCY_BUCKETS[-1] == 600
    metrics.route("gpt-4o", "a").finished(200, 0.001)
    les = {
        labels["le"]
        for name, labels, _ in samples(metrics)
        if name == "router_request_duration_seconds_bucket"
    }
    assert {"0.005", "600.0", "+Inf"} <= les


@pytest.mark.parametrize(
    ("model", "node", "expected"),
    [
        ("gpt-4o", "a", ("gpt-4o", "a")),
        ("no-such-model", "none", ("unknown", "none")),
        ("no-such-model", "a", ("unknown", "a")),
        ("gpt-4o", "not-a-node", ("gpt-4o", "unknown")),
        ("llama", "c", ("llama", "c")),  # c serves no route but is a configured node
    ],
)
def test_labels_are_bounded_by_routes(
    metrics: Metrics, model: str, node: str, expected: tuple[str, str]
) -> None:
    route = metrics.route(model, node)
    assert (route.model, route.node) == expected


def test_unknown_models_share_one_series(metrics: Metrics) -> None:
    for i in range(200):
        metrics.route(f"random-{i}", "none").finished(404, 0.001)
        metrics.failover(f"random-{i}", "connect")
        metrics.rate_limited(f"random-{i}")
    models = {labels.get("model") for _, labels, _ in samples(metrics)} - {None}
    assert models <= {"gpt-4o", "llama", "unknown"}
    assert value(metrics, "router_requests_total", model="unknown", node="none", code="404") == 200
    assert len(metrics._routes) < 5  # raw names are never cache keys


def test_route_is_cached(metrics: Metrics) -> None:
    assert metrics.route("gpt-4o", "a") is metrics.route("gpt-4o", "a")
    assert metrics.route("x", "none") is metrics.route("y", "none")
    assert metrics.node("a") is metrics.node("a")


def test_status_codes_outside_http_range_are_one_label(metrics: Metrics) -> None:
    route = metrics.route("gpt-4o", "a")
    route.finished(0, 0.1)
    route.finished(1000, 0.1)
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="other") == 2


def node_states(metrics: Metrics, node: str) -> dict[str, float]:
    """The router_node_state samples of `node`, by state."""
    found = [(labels, v) for name, labels, v in samples(metrics) if name == "router_node_state"]
    return {labels["state"]: v for labels, v in found if labels["node"] == node}


def test_node_state_is_one_hot(metrics: Metrics) -> None:
    # Every state but retired: a retired node has left routes.yaml and the metrics.
    assert tuple(NODE_STATES) == tuple(s.value for s in NodeState if s is not NodeState.RETIRED)
    metrics.set_node_state("a", "ejected")
    metrics.set_node_state("a", NodeState.PROBING)
    states = node_states(metrics, "a")
    assert states == {s: (1.0 if s == "probing" else 0.0) for s in NODE_STATES}


def test_node_state_label_values_are_kept_and_unproven_added(metrics: Metrics) -> None:
    old = ("healthy", "ejected", "probing", "draining", "disabled")
    assert (*old, "unproven") == NODE_STATES  # dashboards and alerts rely on these values
    metrics.set_node_state("a", NodeState.UNPROVEN)
    states = node_states(metrics, "a")
    assert states == {s: (1.0 if s == "unproven" else 0.0) for s in NODE_STATES}


def test_invalid_state_and_reason_are_rejected(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="node state"):
        metrics.set_node_state("a", "sleepy")
    with pytest.raises(ValueError, match="upstream error reason"):
        metrics.upstream_error("a", "gremlins")


def test_node_series_exist_from_the_start(metrics: Metrics) -> None:
    # Pre-created at zero so rate()/increase() see the first event.
    for reason in UPSTREAM_ERROR_REASONS:
        assert value(metrics, "router_upstream_errors_total", node="c", reason=reason) == 0
    assert value(metrics, "router_node_inflight", node="c") == 0
    assert value(metrics, "router_node_ejections_total", node="c") == 0
    assert value(metrics, "router_config_reloads_total", result="failure") == 0
    assert value(metrics, "router_retry_budget_exhausted_total", model="llama") == 0


def test_model_node_info_and_reload_drops_removed_nodes(metrics: Metrics) -> None:
    assert value(metrics, "router_model_node_info", model="llama", node="b") == 1
    metrics.set_node_state("c", "draining")
    metrics.route("llama", "b").finished(200, 0.1)
    metrics.set_routes({"llama": ["b"]})
    rendered = samples(metrics)
    assert not [s for s in rendered if s[0] == "router_node_state" and s[1]["node"] == "c"]
    assert not [
        s for s in rendered if s[0] == "router_model_node_info" and s[1]["model"] != "llama"
    ]
    assert metrics.route("gpt-4o", "a").model == "unknown"
    assert metrics.route("llama", "a").node == "unknown"


def test_apply_config_takes_route_names_and_nodes() -> None:
    config = Config.build(
        version=1,
        server=ServerConfig(),
        defaults=Defaults(),
        nodes={"n1": NodeConfig("n1", "http://127.0.0.1:1"), "n2": NodeConfig("n2", "http://x")},
        models={"m": ModelRoute("m", (Backend("n1"),), aliases=("m-alias",))},
    )
    m = Metrics(process_collectors=False)
    m.apply_config(config)
    assert m.model_label("m") == "m"
    assert m.model_label("m-alias") == "unknown"  # the proxy passes route.name
    assert m.node_label("n2") == "n2"
    assert value(m, "router_model_node_info", model="m", node="n1") == 1


def test_zero_tokens_and_credits_add_nothing(metrics: Metrics) -> None:
    metrics.route("llama", "b").add_tokens()
    metrics.credits_settled("llama", 0, 0)
    assert value(metrics, "router_tokens_total", model="llama", kind="prompt") == 0
    assert value(metrics, "router_credits_charged_total", model="llama") == 0


def test_own_registry_not_the_global_one() -> None:
    first, second = Metrics(), Metrics()  # would raise "Duplicated timeseries" if shared
    first.route("x", "none").finished(200, 0.1)
    assert b"router_requests_total" not in prometheus_client.generate_latest()
    assert first.registry is not second.registry


def test_render_negotiates_openmetrics(metrics: Metrics) -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# TYPE router_requests_total counter" in body
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_local_families_render_as_prometheus_client_would() -> None:
    """One process records per-request families lock-free; the samples must be the same
    as prometheus-client's for the same observations (its `_created` samples aside)."""
    metrics = Metrics(process_collectors=False)
    metrics.set_routes({"m": ["a"]})
    ref = CollectorRegistry()
    requests = Counter(*REQUESTS, ["model", "node", "code"], registry=ref)
    duration = Histogram(*DURATION, ["model", "node"], buckets=LATENCY_BUCKETS, registry=ref)
    ttfb = Histogram(*TTFB, ["model", "node"], buckets=LATENCY_BUCKETS, registry=ref)
    tokens = Counter(*TOKENS, ["model", "kind"], registry=ref)
    cases = [(200, 0.003, 0.001), (200, 0.005, 0.005), (502, 700.0, 0.3), (42, 1.0, 2.5)]
    for status, seconds, first_byte in cases:
        route = metrics.route("m", "a")
        route.finished(status, seconds)
        route.first_byte(first_byte)
        route.add_tokens(3, 5, 0)
        requests.labels("m", "a", status_label(status)).inc()
        duration.labels("m", "a").observe(seconds)
        ttfb.labels("m", "a").observe(first_byte)
        tokens.labels("m", "prompt").inc(3)
        tokens.labels("m", "completion").inc(5)
        tokens.labels("m", "reasoning").inc(0)
    names = {REQUESTS[0], DURATION[0], TTFB[0], TOKENS[0]}

    def rendered(
        registry: CollectorRegistry,
    ) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        return sorted(
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for family in registry.collect()
            for s in family.samples
            if s.name.startswith(tuple(n.removesuffix("_total") for n in names))
            and not s.name.endswith("_created")
        )

    ours = rendered(metrics.registry)
    assert ours == rendered(ref)
    assert (
        "router_requests_total",
        (("code", "other"), ("model", "m"), ("node", "a")),
        1.0,
    ) in ours


def test_multiprocess_metrics_are_read_from_the_folder_given(tmp_path: Path) -> None:
    # What another worker wrote: prometheus-client's file for one counter sample.
    values = MmapedDict(str(tmp_path / "counter_4242.db"))
    labels = (["model", "node", "code"], ["gpt-4o", "a", "200"])
    key = mmap_key("router_requests", "router_requests_total", *labels, "help")
    values.write_value(key, 7.0, 0.0)
    values.close()
    metrics = Metrics(process_collectors=False, multiprocess_dir=str(tmp_path))
    labels_of = {"model": "gpt-4o", "node": "a", "code": "200"}
    assert value(metrics, "router_requests_total", **labels_of) == 7.0


def test_the_environment_alone_does_not_switch_to_multiprocess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder is a run option (router.cli.main reads the variable, once).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics = Metrics(process_collectors=False)
    metrics.route("gpt-4o", "a").finished(200, 0.1)  # not files: this registry's own numbers
    assert value(metrics, "router_requests_total", model="unknown", node="unknown", code="200") == 1
