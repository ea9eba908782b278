"""The retry budget: retries may add at most `percent`% to recent requests.

How this works: when a cluster fails, every request wants a retry, and unbounded retries
multiply the load on exactly the nodes that are struggling. So a retry is allowed only while
the retries of the last ten seconds stay within `percent`% of the original requests of the
same ten seconds. A few retries (`min_concurrent` in flight at once) always pass, so a quiet
router, which has too few requests for a percentage to mean anything, can still retry.

The window is ten one-second buckets in a ring, each stamped with the second it counts, so
recording and checking cost a few list operations and no timestamps are stored per request.
The window is therefore between nine and ten seconds long, which is precise enough for a
budget. Time comes in as `now` (a monotonic clock, in seconds); nothing here reads a clock.
"""

from __future__ import annotations

import math

from router.config.model import RetryBudget

WINDOW_SECONDS = 10
BUCKETS = 10
_BUCKET_SECONDS = WINDOW_SECONDS / BUCKETS


class RetryBudgetTracker:
    """Counts requests and retries over a sliding window and decides whether a retry may start."""

    __slots__ = ("_config", "_in_flight", "_requests", "_retries", "_stamps")

    def __init__(self, config: RetryBudget) -> None:
        self._config = config
        self._in_flight = 0
        self._requests = [0] * BUCKETS
        self._retries = [0] * BUCKETS
        self._stamps = [-1] * BUCKETS  # the bucket number each slot currently counts

    @property
    def in_flight(self) -> int:
        """Retries started and not yet finished."""
        return self._in_flight

    def record_request(self, now: float) -> None:
        """Count one original client request (not a retry)."""
        self._requests[self._slot(now)] += 1

    def try_start_retry(self, now: float) -> bool:
        """Start a retry if the budget allows it; on True, call `finish_retry` when it ends."""
        # The floor is concurrency, as in Envoy: a quiet router may always retry a little.
        # A storm is retries piling up (slow failures, timeouts); those overlap, exceed the
        # floor and meet the percentage. Fast failures barely overlap and cost the nodes
        # little, so they mostly pass on the floor.
        if self._in_flight >= self._config.min_concurrent:
            requests, retries = self.requests_in_window(now), self.retries_in_window(now)
            # Multiplied out rather than divided: exact for 20% of 10 requests, and 0
            # requests gives no budget without a special case.
            if (retries + 1) * 100 > self._config.percent * requests:
                return False
        self._retries[self._slot(now)] += 1
        self._in_flight += 1
        return True

    def finish_retry(self) -> None:
        """A retry started by `try_start_retry` has ended (whatever its outcome)."""
        if self._in_flight == 0:
            raise RuntimeError("finish_retry called with no retry in flight")
        self._in_flight -= 1

    def requests_in_window(self, now: float) -> int:
        """Original requests counted in the window ending at `now`."""
        return self._window_sum(self._requests, now)

    def retries_in_window(self, now: float) -> int:
        """Retries started in the window ending at `now`."""
        return self._window_sum(self._retries, now)

    def _slot(self, now: float) -> int:
        """The ring index for `now`, emptied first if it still holds an older bucket."""
        bucket = math.floor(now / _BUCKET_SECONDS)
        index = bucket % BUCKETS
        if self._stamps[index] != bucket:
            self._stamps[index] = bucket
            self._requests[index] = 0
            self._retries[index] = 0
        return index

    def _window_sum(self, counts: list[int], now: float) -> int:
        bucket = math.floor(now / _BUCKET_SECONDS)
        oldest = bucket - BUCKETS
        return sum(c for c, s in zip(counts, self._stamps, strict=True) if oldest < s <= bucket)
