"""Recent traffic per node, for the status page: requests and errors over the last 15 minutes.

How this works: each node has a ring of one-second slots (900 of them), each holding the
second it counts, its requests and its errors. Recording a request touches one slot: if
the slot still holds an older second it is cleared first, so the ring never needs a sweep
and a request costs O(1) whatever the traffic. Reading (once a second, by the status
page) walks the ring and drops the slots older than the window. Beside it, a plain count
per (model, node) since the process started gives each model's actual traffic shares.

Pure: the caller passes the clock (`time.monotonic()` seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 900  # 15 minutes of one-second slots


@dataclass(slots=True)
class _Ring:
    seconds: list[int] = field(default_factory=lambda: [-1] * WINDOW_SECONDS)
    requests: list[int] = field(default_factory=lambda: [0] * WINDOW_SECONDS)
    errors: list[int] = field(default_factory=lambda: [0] * WINDOW_SECONDS)

    def add(self, second: int, error: bool) -> None:
        slot = second % WINDOW_SECONDS
        if self.seconds[slot] != second:
            self.seconds[slot] = second
            self.requests[slot] = 0
            self.errors[slot] = 0
        self.requests[slot] += 1
        if error:
            self.errors[slot] += 1


class Traffic:
    """Per-node request and error counts of the last 15 minutes, and per-model shares."""

    def __init__(self) -> None:
        self._rings: dict[str, _Ring] = {}
        self._shares: dict[tuple[str, str], int] = {}

    def record(self, model: str, node: str, error: bool, now: float) -> None:
        """One request was answered by `node` (an error: its status was 5xx)."""
        self.attempt(node, error, now)
        pair = (model, node)
        self._shares[pair] = self._shares.get(pair, 0) + 1

    def attempt(self, node: str, error: bool, now: float) -> None:
        """One attempt ended on `node`: an answered request, or a failed attempt (an error)."""
        ring = self._rings.get(node)
        if ring is None:
            ring = self._rings[node] = _Ring()
        ring.add(int(now), error)

    def series(self, now: float, step: int = 10) -> dict[str, Any]:
        """Per node, requests/s and errors/s in `step`-second buckets, oldest first.

        `buckets` counts back from now: bucket i covers the seconds
        (now - (n - i) * step, now - (n - i - 1) * step].
        """
        current = int(now)
        n = WINDOW_SECONDS // step
        out: dict[str, Any] = {}
        for node, ring in self._rings.items():
            requests = [0.0] * n
            errors = [0.0] * n
            for slot, second in enumerate(ring.seconds):
                age = current - second
                if second < 0 or age < 0 or age >= n * step:
                    continue
                index = n - 1 - age // step
                requests[index] += ring.requests[slot] / step
                errors[index] += ring.errors[slot] / step
            out[node] = {"requests_per_s": requests, "errors_per_s": errors}
        return {"step_seconds": step, "buckets": n, "nodes": out}

    def shares(self, model: str) -> dict[str, int]:
        """Requests each node answered for `model` since the router started."""
        return {node: n for (m, node), n in self._shares.items() if m == model}
