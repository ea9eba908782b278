"""The per-request metric families of a single router process, without per-call locks.

Why: prometheus-client takes a lock and walks its buckets in Python on every `inc` and
`observe`; a request makes seven such calls, which measured about 9 us in a router
spending under 200 us per request. The router records from one event-loop thread, so
plain integers suffice: `LocalRouteMetrics` counts into them and `LocalRouteCollector`
turns them into the usual families when /metrics is scraped (same names, labels and
buckets as prometheus-client's; like its multiprocess mode, histograms carry no
`_created` sample).

With `--workers`, values must reach prometheus-client's multiprocess files, so
`router.observability.metrics` keeps its prometheus-client children there.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import Counter
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

# (name, help) of the families recorded per request; router.observability.metrics uses the same.
REQUESTS = (
    "router_requests_total",
    "Finished requests by final HTTP status; node is the one that answered.",
)
DURATION = (
    "router_request_duration_seconds",
    "Time from receiving a request to sending its last byte.",
)
TTFB = (
    "router_time_to_first_byte_seconds",
    "Time from sending the request to the node until its first response byte.",
)
TOKENS = ("router_tokens_total", "Tokens reported by nodes.")
TRACE_ID = "trace_id"  # the exemplar label naming a traced request's trace
TOKEN_KINDS = ("prompt", "completion", "reasoning")


def status_label(status: int) -> str:
    """Only a well-formed status becomes a label, so a broken upstream cannot mint series."""
    return str(status) if 100 <= status <= 599 else "other"


class LocalRouteMetrics:
    """What the proxy records per request for one (model, node), as plain numbers.

    The interface matches `router.observability.metrics.RouteMetrics`.
    """

    __slots__ = (
        "_bounds",
        "_disconnects",
        "codes",
        "created",
        "duration_counts",
        "duration_exemplars",
        "duration_sum",
        "model",
        "node",
        "tokens",
        "ttfb_counts",
        "ttfb_exemplars",
        "ttfb_sum",
    )

    def __init__(
        self,
        model: str,
        node: str,
        bounds: Sequence[float],
        tokens: list[int],
        disconnects: Counter,
    ) -> None:
        self.model = model
        self.node = node
        self._bounds = bounds  # upper bounds, +Inf excluded: index len(bounds) is +Inf
        self.codes: dict[int, int] = {}  # status -> finished requests
        self.duration_counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative
        self.duration_sum = 0.0
        self.ttfb_counts = [0] * (len(bounds) + 1)
        self.ttfb_sum = 0.0
        # The latest traced request per bucket (OpenMetrics exemplars), once one was traced.
        self.duration_exemplars: list[Exemplar | None] | None = None
        self.ttfb_exemplars: list[Exemplar | None] | None = None
        self.tokens = tokens  # [prompt, completion, reasoning], shared by the model's routes
        self._disconnects = disconnects  # a prometheus-client child: rare, so locks are fine
        self.created = time.time()

    def finished(self, status: int, duration: float, trace_id: str | None = None) -> None:
        """Count one finished request by final status and observe its duration in seconds
        (`trace_id`: a traced request's, kept as the bucket's exemplar)."""
        codes = self.codes
        codes[status] = codes.get(status, 0) + 1
        bucket = bisect_left(self._bounds, duration)
        self.duration_counts[bucket] += 1
        self.duration_sum += duration
        if trace_id is not None:
            if self.duration_exemplars is None:
                self.duration_exemplars = [None] * len(self.duration_counts)
            self.duration_exemplars[bucket] = _exemplar(trace_id, duration)

    def first_byte(self, seconds: float, trace_id: str | None = None) -> None:
        """Observe the time from sending the request to the node until its first byte."""
        bucket = bisect_left(self._bounds, seconds)
        self.ttfb_counts[bucket] += 1
        self.ttfb_sum += seconds
        if trace_id is not None:
            if self.ttfb_exemplars is None:
                self.ttfb_exemplars = [None] * len(self.ttfb_counts)
            self.ttfb_exemplars[bucket] = _exemplar(trace_id, seconds)

    def add_tokens(self, prompt: int = 0, completion: int = 0, reasoning: int = 0) -> None:
        """Add a response's token usage."""
        tokens = self.tokens
        tokens[0] += prompt
        tokens[1] += completion
        tokens[2] += reasoning

    def client_disconnected(self) -> None:
        """Count a client that went away before the response was complete."""
        self._disconnects.inc()


class LocalRouteCollector(Collector):
    """Holds every `LocalRouteMetrics` (never dropped, as prometheus-client keeps series)
    and renders them at scrape time."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self.routes: dict[tuple[str, str], LocalRouteMetrics] = {}
        self.tokens: dict[str, tuple[list[int], float]] = {}  # model -> (counts, created)

    def route(self, model: str, node: str, disconnects: Counter) -> LocalRouteMetrics:
        """The numbers for (model, node), created on first use."""
        found = self.routes.get((model, node))
        if found is None:
            if model not in self.tokens:
                self.tokens[model] = ([0, 0, 0], time.time())
            found = LocalRouteMetrics(model, node, self.bounds, self.tokens[model][0], disconnects)
            self.routes[(model, node)] = found
        return found

    def describe(self) -> Iterator[Metric]:
        """The families without samples: lets the registry refuse a duplicate name."""
        yield CounterMetricFamily(*REQUESTS, labels=["model", "node", "code"])
        yield HistogramMetricFamily(*DURATION, labels=["model", "node"])
        yield HistogramMetricFamily(*TTFB, labels=["model", "node"])
        yield CounterMetricFamily(*TOKENS, labels=["model", "kind"])

    def collect(self) -> Iterator[Metric]:
        routes = list(self.routes.values())
        requests = CounterMetricFamily(*REQUESTS, labels=["model", "node", "code"])
        for r in routes:
            by_label: dict[str, int] = {}
            for status, count in list(r.codes.items()):
                label = status_label(status)
                by_label[label] = by_label.get(label, 0) + count
            for label, count in sorted(by_label.items()):
                requests.add_metric([r.model, r.node, label], count, created=r.created)
        yield requests
        for (name, doc), field in ((DURATION, "duration"), (TTFB, "ttfb")):
            family = HistogramMetricFamily(name, doc, labels=["model", "node"])
            for r in routes:
                counts = getattr(r, f"{field}_counts")
                exemplars = getattr(r, f"{field}_exemplars") or [None] * len(counts)
                cumulative = 0
                buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
                for le, count, exemplar in zip(self._les, counts, exemplars, strict=True):
                    cumulative += count
                    if exemplar is None:
                        buckets.append((le, float(cumulative)))
                    else:
                        buckets.append((le, float(cumulative), exemplar))
                family.add_metric([r.model, r.node], buckets, getattr(r, f"{field}_sum"))
            yield family
        tokens = CounterMetricFamily(*TOKENS, labels=["model", "kind"])
        for model, (counts, created) in list(self.tokens.items()):
            for kind, count in zip(TOKEN_KINDS, counts, strict=True):
                tokens.add_metric([model, kind], count, created=created)
        yield tokens


def _exemplar(trace_id: str, value: float) -> Exemplar:
    """An OpenMetrics exemplar naming a trace (shown only in the OpenMetrics exposition)."""
    return Exemplar({TRACE_ID: trace_id}, value, time.time())
