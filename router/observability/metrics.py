"""Prometheus metrics for the router, on a registry of its own.

How this works: `Metrics` owns a `CollectorRegistry` (never the global default one, so
two apps in one test process do not collide) and every metric family. Calling
`.labels(...)` costs string conversion, a lock and a dict lookup, so the hot path never
does it per request: `Metrics.route(model, node)` hands out a cached `RouteMetrics`
whose children are bound once, and `Metrics.node(node)` a cached `NodeMetrics`.

Label values stay bounded: models and nodes are the ones in routes.yaml
(`set_routes`/`apply_config`, called at start and on every reload); any other model
is recorded as `unknown`, any other node as `unknown`, and `none` means no node
answered. The model label is the route's name (`ModelRoute.name`), not the alias or
the glob-matched name the client sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from router.errors import FailureReason
from router.observability.families import Families
from router.observability.single_process import (
    TRACE_ID,
    LocalRouteMetrics,
    status_label,
)
from router.routing.health import NodeState

if TYPE_CHECKING:
    from router.config.model import Config

UNKNOWN = "unknown"
NO_NODE = "none"

# A retired node has left routes.yaml, and with it the metrics.
NODE_STATES: tuple[str, ...] = tuple(s.value for s in NodeState if s is not NodeState.RETIRED)
UPSTREAM_ERROR_REASONS: tuple[str, ...] = tuple(reason.value for reason in FailureReason)
RELOAD_RESULTS: tuple[str, ...] = ("success", "failure")


class RouteMetrics:
    """Children bound for one (model, node): what the proxy records per request."""

    __slots__ = (
        "_codes",
        "_completion",
        "_disconnects",
        "_prompt",
        "_reasoning",
        "_requests",
        "duration",
        "model",
        "node",
        "ttfb",
    )

    def __init__(self, families: Families, model: str, node: str) -> None:
        self.model = model
        self.node = node
        self.duration = families.duration.labels(model, node)
        self.ttfb = families.ttfb.labels(model, node)
        self._prompt = families.tokens.labels(model, "prompt")
        self._completion = families.tokens.labels(model, "completion")
        self._reasoning = families.tokens.labels(model, "reasoning")
        self._disconnects = families.client_disconnects.labels(model)
        self._requests = families.requests
        self._codes: dict[int, Counter] = {}

    def finished(self, status: int, duration: float, trace_id: str | None = None) -> None:
        """Count one finished request by final status and observe its duration in seconds.
        (prometheus-client keeps no exemplars in multiprocess mode: `trace_id` is lost.)"""
        child = self._codes.get(status)
        if child is None:
            # The dict is bounded by the ~500 valid codes (others share "other").
            code = status_label(status)
            child = self._codes[status] = self._requests.labels(self.model, self.node, code)
        child.inc()
        self.duration.observe(duration, None if trace_id is None else {TRACE_ID: trace_id})

    def first_byte(self, seconds: float, trace_id: str | None = None) -> None:
        """Observe the time from sending the request to the node until its first byte."""
        self.ttfb.observe(seconds, None if trace_id is None else {TRACE_ID: trace_id})

    def add_tokens(self, prompt: int = 0, completion: int = 0, reasoning: int = 0) -> None:
        """Add a response's token usage (zeros are skipped: each inc takes a lock)."""
        if prompt > 0:
            self._prompt.inc(prompt)
        if completion > 0:
            self._completion.inc(completion)
        if reasoning > 0:
            self._reasoning.inc(reasoning)

    def client_disconnected(self) -> None:
        """Count a client that went away before the response was complete."""
        self._disconnects.inc()


AnyRouteMetrics = RouteMetrics | LocalRouteMetrics


class NodeMetrics:
    """Children bound for one node: state, in-flight gauge, ejections, upstream errors."""

    __slots__ = ("_ejections", "_errors", "_states", "inflight", "name")

    def __init__(self, families: Families, name: str) -> None:
        self.name = name
        self.inflight = families.node_inflight.labels(name)
        self._states = {state: families.node_state.labels(name, state) for state in NODE_STATES}
        self._ejections = families.node_ejections.labels(name)
        self._errors = {r: families.upstream_errors.labels(name, r) for r in UPSTREAM_ERROR_REASONS}

    def set_state(self, state: str) -> None:
        """Set 1 on `state` and 0 on every other state of this node."""
        if state not in self._states:
            raise ValueError(f"unknown node state {state!r}; expected one of {NODE_STATES}")
        for name, child in self._states.items():
            child.set(1 if name == state else 0)

    def ejected(self) -> None:
        """Count one ejection of this node by outlier detection."""
        self._ejections.inc()

    def upstream_error(self, reason: str) -> None:
        """Count one failed upstream attempt on this node."""
        child = self._errors.get(reason)
        if child is None:
            raise ValueError(
                f"unknown upstream error reason {reason!r}; expected one of"
                f" {UPSTREAM_ERROR_REASONS}"
            )
        child.inc()


class Metrics:
    """The router's metrics: one registry, bounded labels, cached bound children.

    `multiprocess_dir` is prometheus-client's multiprocess folder (`router serve
    --workers N`): every worker writes its values there and /metrics adds them all up.
    """

    def __init__(
        self, *, process_collectors: bool = True, multiprocess_dir: str | None = None
    ) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._f = Families(self.registry, multiprocess=multiprocess_dir is not None)
        self.inflight_requests: Gauge = self._f.inflight_requests
        self.streams_open: Gauge = self._f.streams_open
        self.state_backend_up: Gauge = self._f.state_backend_up
        self.state_backend_up.set(1)
        self._models: frozenset[str] = frozenset()
        self._nodes: frozenset[str] = frozenset()
        self._routes: dict[tuple[str, str], AnyRouteMetrics] = {}
        self._node_metrics: dict[str, NodeMetrics] = {}
        self._failovers: dict[tuple[str, str], Counter] = {}
        self._credits: dict[str, tuple[Counter, Counter]] = {}  # model -> (charged, refunded)
        # Pre-created at zero so `increase()` sees the first failure, not a new series.
        for result in RELOAD_RESULTS:
            self._f.config_reloads.labels(result)

    # -- label bounds -------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Take the models and nodes of a freshly loaded routes.yaml."""
        routes = {name: [b.node for b in r.backends] for name, r in config.models.items()}
        self.set_routes(routes, config.nodes)

    def set_routes(self, routes: Mapping[str, Iterable[str]], nodes: Iterable[str] = ()) -> None:
        """Set the allowed label values: route name -> its nodes, plus nodes serving none."""
        models = frozenset(routes)
        all_nodes = frozenset(nodes).union(*routes.values())
        for gone in self._nodes - all_nodes:
            # A removed node's gauges would otherwise keep alerting on its last state.
            self._f.node_inflight.remove(gone)
            for state in NODE_STATES:
                self._f.node_state.remove(gone, state)
            self._node_metrics.pop(gone, None)
        self._models, self._nodes = models, all_nodes
        # Cached children of removed names would bypass the `unknown` mapping.
        self._routes = {
            k: v
            for k, v in self._routes.items()
            if k[0] in models and (k[1] in all_nodes or k[1] == NO_NODE)
        }
        if self.multiprocess_dir is None:  # files of other workers cannot be cleared
            self._f.model_node_info.clear()
        for model, model_nodes in routes.items():
            for node in model_nodes:
                self._f.model_node_info.labels(model, node).set(1)
        for model in models:
            self._f.retry_budget_exhausted.labels(model)
            self._f.client_disconnects.labels(model)
        for node in all_nodes:
            self.node(node)

    def model_label(self, model: str) -> str:
        """`model` if routes.yaml names it, else `unknown`."""
        return model if model in self._models else UNKNOWN

    def node_label(self, node: str) -> str:
        """`node` if routes.yaml names it (or it is `none`), else `unknown`."""
        return node if node in self._nodes or node == NO_NODE else UNKNOWN

    # -- hot path -----------------------------------------------------------------------

    def route(self, model: str, node: str = NO_NODE) -> AnyRouteMetrics:
        """What to record a request of (model, node) on; unknown names map to `unknown`."""
        found = self._routes.get((model, node))
        if found is not None:
            return found
        key = (self.model_label(model), self.node_label(node))
        found = self._routes.get(key)
        if found is None:
            local = self._f.local
            if local is None:
                found = RouteMetrics(self._f, *key)
            else:
                found = local.route(*key, self._f.client_disconnects.labels(key[0]))
            self._routes[key] = found
        return found

    def node(self, node: str) -> NodeMetrics:
        """The cached bound children for one node."""
        found = self._node_metrics.get(node)
        if found is None:
            name = self.node_label(node)
            found = self._node_metrics.get(name)
            if found is None:
                found = self._node_metrics[name] = NodeMetrics(self._f, name)
        return found

    # -- less frequent events -----------------------------------------------------------

    def set_node_state(self, node: str, state: str) -> None:
        """Set the node's current health state (a `NodeState`, or its value)."""
        self.node(node).set_state(state)

    def node_ejected(self, node: str) -> None:
        """Count one ejection of `node`."""
        self.node(node).ejected()

    def upstream_error(self, node: str, reason: str) -> None:
        """Count one failed attempt on `node`; reason is one of UPSTREAM_ERROR_REASONS."""
        self.node(node).upstream_error(reason)

    def failover(self, model: str, reason: str) -> None:
        """Count a retry on another node; reason is a fixed word (e.g. an upstream error)."""
        key = (self.model_label(model), reason)
        child = self._failovers.get(key)
        if child is None:
            child = self._failovers[key] = self._f.failovers.labels(*key)
        child.inc()

    def retry_budget_exhausted(self, model: str) -> None:
        """Count a retry refused because the budget was spent."""
        self._f.retry_budget_exhausted.labels(self.model_label(model)).inc()

    def affinity(self, model: str, outcome: str) -> None:
        """Count one first pick of a model with `affinity:` (hit, moved or none)."""
        self._f.affinity.labels(self.model_label(model), outcome).inc()

    def hedge(self, model: str, outcome: str) -> None:
        """Count one hedge of a model with `hedge:` (won, lost, cancelled or refused)."""
        self._f.hedges.labels(self.model_label(model), outcome).inc()

    def continuation(self, model: str, outcome: str) -> None:
        """Count one mid-answer failure of a continuing stream (continued or failed)."""
        self._f.continuations.labels(self.model_label(model), outcome).inc()

    def translated(self, model: str, client: str, node: str) -> None:
        """Count one answer translated from the node's dialect into the client's."""
        self._f.translations.labels(self.model_label(model), client, node).inc()

    def config_reloaded(self, *, success: bool, timestamp: float | None = None) -> None:
        """Count a reload; a success also moves the last-reload timestamp."""
        self._f.config_reloads.labels("success" if success else "failure").inc()
        if success:
            self.config_loaded(timestamp)

    def config_loaded(self, timestamp: float | None = None) -> None:
        """Record the time routes.yaml was loaded (also at start, which is not a reload)."""
        if timestamp is None:
            self._f.config_last_reload.set_to_current_time()
        else:
            self._f.config_last_reload.set(timestamp)

    def auth_failure(self, reason: str) -> None:
        """Count a rejected key; reason is a fixed word (missing, invalid, revoked...)."""
        self._f.auth_failures.labels(reason).inc()

    def rate_limited(self, model: str) -> None:
        """Count a request refused by a rate limit."""
        self._f.rate_limited.labels(self.model_label(model)).inc()

    def unmetered(self, model: str) -> None:
        """Count a request let through unmetered while the state backend was down."""
        self._f.unmetered.labels(self.model_label(model)).inc()

    def trace_spans(self, outcome: str, spans: int) -> None:
        """Count spans exported or dropped (any thread: the exporter runs on its own)."""
        self._f.trace_spans.labels(outcome).inc(spans)

    def credits_settled(self, model: str, charged: float, refunded: float) -> None:
        """Add the credits one settled request was charged and was given back."""
        label = model if model in self._models else UNKNOWN
        pair = self._credits.get(label)
        if pair is None:  # once per model: `.labels()` is too dear for every request
            pair = (self._f.credits_charged.labels(label), self._f.credits_refunded.labels(label))
            self._credits[label] = pair
        if charged > 0:
            pair[0].inc(charged)
        if refunded > 0:
            pair[1].inc(refunded)

    # -- exposition ---------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The body and Content-Type for GET /metrics, negotiated from the Accept header."""
        encoder, content_type = choose_encoder(accept or "")
        if self.multiprocess_dir is not None:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return encoder(merged), content_type
        return encoder(self.registry), content_type
