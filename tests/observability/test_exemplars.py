"""Latency histograms carry the trace id of a traced request as an OpenMetrics exemplar."""

from __future__ import annotations

import re

from router.observability.metrics import Metrics

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def rendered(metrics: Metrics, accept: str) -> str:
    body, _ = metrics.render(accept)
    return body.decode()


def test_a_traced_request_is_the_exemplar_of_its_bucket() -> None:
    metrics = Metrics(process_collectors=False)
    metrics.set_routes({"m": ["a"]})
    route = metrics.route("m", "a")
    route.finished(200, 0.3)  # untraced: counted, no exemplar
    route.finished(200, 0.7, TRACE)
    route.first_byte(0.04, TRACE)
    text = rendered(metrics, OPENMETRICS)
    pattern = r"^router_request_duration_seconds_bucket\{([^}]*)\} (\S+)(.*)$"
    duration = re.findall(pattern, text, re.M)
    with_exemplar = [(labels, rest) for labels, _, rest in duration if "#" in rest]
    assert len(with_exemplar) == 1
    labels, rest = with_exemplar[0]
    assert 'le="1.0"' in labels and 'node="a"' in labels
    assert re.match(rf' # \{{trace_id="{TRACE}"\}} 0\.7 \d+(\.\d+)?$', rest), rest
    assert re.search(
        rf'^router_time_to_first_byte_seconds_bucket\{{[^}}]*le="0.05"[^}}]*\}} 1.0 # '
        rf'\{{trace_id="{TRACE}"\}} 0.04',
        text,
        re.M,
    )
    # The classic Prometheus text format has no exemplars.
    assert TRACE not in rendered(metrics, "text/plain")


def test_the_latest_traced_request_replaces_the_buckets_exemplar() -> None:
    metrics = Metrics(process_collectors=False)
    metrics.set_routes({"m": ["a"]})
    route = metrics.route("m", "a")
    route.finished(200, 0.7, "1" * 32)
    route.finished(200, 0.8, "2" * 32)
    text = rendered(metrics, OPENMETRICS)
    assert "1" * 32 not in text and text.count("2" * 32) == 1
