"""What the observability tests read: a stream that counts writes, metric samples by name."""

from __future__ import annotations

import io
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from router.observability.metrics import Metrics


class CountingStream(io.BytesIO):
    """Counts write calls: the access writer promises one per batch of lines."""

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


def metric_in(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels in a /metrics text (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def samples(metrics: Metrics) -> list[tuple[str, dict[str, str], float]]:
    body, _ = metrics.render()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    for sample_name, sample_labels, sample_value in samples(metrics):
        if sample_name == name and sample_labels == labels:
            return sample_value
    return None
