"""Every metric family the router exports, registered on one registry.

A declarative table: names, help texts, labels and buckets are the contract that the
dashboard, the alerts and the tests rely on. The logic that records into them is
`router.observability.metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from router.observability.single_process import (
    DURATION,
    REQUESTS,
    TOKENS,
    TTFB,
    LocalRouteCollector,
)

# LLM calls span a cached 5 ms answer to a 10-minute reasoning stream; roughly x2.5 steps
# keep quantile error tolerable at both ends with few buckets (each costs a series).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


class Families:
    """Every metric family, registered on one registry (kept apart from `Metrics`'s logic)."""

    def __init__(self, registry: CollectorRegistry, *, multiprocess: bool = False) -> None:
        r = registry
        # The families recorded per request: lock-free numbers of our own in one process,
        # prometheus-client's (multiprocess files) with `--workers`.
        self.local: LocalRouteCollector | None = None
        if multiprocess:
            self.requests = Counter(*REQUESTS, ["model", "node", "code"], registry=r)
            self.duration = Histogram(
                *DURATION, ["model", "node"], buckets=LATENCY_BUCKETS, registry=r
            )
            self.ttfb = Histogram(*TTFB, ["model", "node"], buckets=LATENCY_BUCKETS, registry=r)
            self.tokens = Counter(*TOKENS, ["model", "kind"], registry=r)
        else:
            self.local = LocalRouteCollector(LATENCY_BUCKETS)
            r.register(self.local)
        self.upstream_errors = Counter(
            "router_upstream_errors_total",
            "Failed upstream attempts by node and reason.",
            ["node", "reason"],
            registry=r,
        )
        self.failovers = Counter(
            "router_failovers_total",
            "Retries of a request on another node, by the reason the previous attempt failed.",
            ["model", "reason"],
            registry=r,
        )
        self.retry_budget_exhausted = Counter(
            "router_retry_budget_exhausted_total",
            "Retries refused because the retry budget was spent.",
            ["model"],
            registry=r,
        )
        self.affinity = Counter(
            "router_affinity_total",
            "First picks of models with affinity: hit (the key's home node), moved (another "
            "node: home out or above its bounded load), none (no key in the request).",
            ["model", "outcome"],
            registry=r,
        )
        self.hedges = Counter(
            "router_hedges_total",
            "Hedged requests of models with hedge: won (the hedge answered first), lost (the "
            "first node answered first; the hedge was cancelled), cancelled (the hedge "
            "failed or the client left), refused (retry budget spent or no node left).",
            ["model", "outcome"],
            registry=r,
        )
        self.continuations = Counter(
            "router_continuations_total",
            "Streams of models with on_midstream_failure: continue whose node failed "
            "mid-answer: continued (another node went on with the answer), failed (the "
            "stream ended with the error event).",
            ["model", "outcome"],
            registry=r,
        )
        self.translations = Counter(
            "router_translated_answers_total",
            "Answers a node of another dialect than the client's gave, translated: by the "
            "client's dialect and the node's (an answer relayed as it came is not counted).",
            ["model", "client_dialect", "node_dialect"],
            registry=r,
        )
        self.node_state = Gauge(
            "router_node_state",
            "1 for the node's current health state, 0 for the others.",
            ["node", "state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.node_inflight = Gauge(
            "router_node_inflight",
            "Requests in flight to the node.",
            ["node"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.node_ejections = Counter(
            "router_node_ejections_total",
            "Times the node was ejected by outlier detection.",
            ["node"],
            registry=r,
        )
        self.model_node_info = Gauge(
            "router_model_node_info",
            "1 for each (model, node) pair in routes.yaml; joins node state to models.",
            ["model", "node"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.inflight_requests = Gauge(
            "router_inflight_requests",
            "Client requests being handled.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.streams_open = Gauge(
            "router_streams_open",
            "Streaming responses being relayed.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.client_disconnects = Counter(
            "router_client_disconnects_total",
            "Clients that went away before their response was complete.",
            ["model"],
            registry=r,
        )
        self.config_reloads = Counter(
            "router_config_reloads_total", "routes.yaml reloads by result.", ["result"], registry=r
        )
        self.config_last_reload = Gauge(
            "router_config_last_reload_timestamp_seconds",
            "Unix time of the last successful load of routes.yaml.",
            registry=r,
            multiprocess_mode="max",
        )
        self.auth_failures = Counter(
            "router_auth_failures_total", "Rejected API keys by reason.", ["reason"], registry=r
        )
        self.rate_limited = Counter(
            "router_rate_limited_total", "Requests refused by rate limits.", ["model"], registry=r
        )
        self.credits_charged = Counter(
            "router_credits_charged_total", "Credits charged to keys.", ["model"], registry=r
        )
        self.state_backend_up = Gauge(
            "router_state_backend_up",
            "1 while the state backend (memory or Redis) answers, else 0.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.unmetered = Counter(
            "router_unmetered_requests_total",
            "Requests let through without metering because the state backend was "
            "unreachable (state.on_error: open).",
            ["model"],
            registry=r,
        )
        self.trace_spans = Counter(
            "router_trace_spans_total",
            "Spans of traced requests (observability.tracing) by what became of them: "
            "exported, queue_full (dropped: too many waiting for export), export_failed "
            "(dropped: the collector refused them or could not be reached).",
            ["outcome"],
            registry=r,
        )
        self.credits_refunded = Counter(
            "router_credits_refunded_total", "Credits refunded to keys.", ["model"], registry=r
        )
