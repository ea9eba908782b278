"""Percentiles and peak concurrency: pure functions over recorded samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """The `pct` percentile of `samples` with linear interpolation (NaN when empty)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_overlap(intervals: Iterable[Sequence[float]]) -> int:
    """The largest number of (open, close) intervals that overlap at one instant."""
    events = []
    for opened, closed in intervals:
        events.append((opened, 1))
        events.append((closed, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # a close at the same instant goes first
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak
