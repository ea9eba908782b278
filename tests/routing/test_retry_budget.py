"""Tables for the retry budget; no event loop, no clock."""

from __future__ import annotations

import pytest

from router.config.model import RetryBudget
from router.routing.retry_budget import RetryBudgetTracker


def tracker(percent: float = 20.0, min_concurrent: int = 0) -> RetryBudgetTracker:
    return RetryBudgetTracker(RetryBudget(percent=percent, min_concurrent=min_concurrent))


def allowed_retries(t: RetryBudgetTracker, now: float, attempts: int = 100) -> int:
    """How many retries start at `now` with none finishing (they stay in flight)."""
    return sum(t.try_start_retry(now) for _ in range(attempts))


@pytest.mark.parametrize("requests,percent,min_concurrent,allowed", [
    (10, 20.0, 0, 2),  # exactly 20% of 10
    (9, 20.0, 0, 1),  # 1.8 rounds down
    (100, 20.0, 0, 20),
    (100, 0.0, 0, 0),
    (0, 20.0, 0, 0),  # no traffic, no percentage budget...
    (0, 20.0, 3, 3),  # ...but the floor always passes
    (10, 20.0, 3, 3),  # the floor covers the 2 the percentage allows; not added to them
    (100, 20.0, 3, 20),  # the percentage is above the floor
    (10, 100.0, 0, 10),
])  # fmt: skip
def test_budget(requests, percent, min_concurrent, allowed):
    t = tracker(percent, min_concurrent)
    for _ in range(requests):
        t.record_request(0.0)
    assert allowed_retries(t, 0.5) == allowed
    assert t.in_flight == allowed


def test_floor_counts_retries_in_flight_not_in_the_window():
    t = tracker(percent=0.0, min_concurrent=2)
    assert allowed_retries(t, 0.0) == 2
    t.finish_retry()
    assert t.try_start_retry(0.0)  # one finished, so one more may start
    assert not t.try_start_retry(0.0)
    t.finish_retry()
    t.finish_retry()
    assert allowed_retries(t, 0.0) == 2


def test_finished_retries_still_use_the_percentage_budget():
    t = tracker(percent=20.0)
    for _ in range(10):
        t.record_request(0.0)
    for _ in range(2):
        assert t.try_start_retry(0.0)
        t.finish_retry()
    assert not t.try_start_retry(0.0)  # the window still holds 2 retries


@pytest.mark.parametrize("later,requests_seen,allowed", [
    (0.0, 10, 2),
    (9.9, 10, 2),  # same ten buckets
    (10.0, 0, 0),  # bucket 0 has left the window
    (25.0, 0, 0),  # long idle: every bucket stale
])  # fmt: skip
def test_requests_expire_from_the_window(later, requests_seen, allowed):
    t = tracker(percent=20.0)
    for _ in range(10):
        t.record_request(0.2)
    assert t.requests_in_window(later) == requests_seen
    assert allowed_retries(t, later) == allowed


def test_retries_expire_from_the_window():
    t = tracker(percent=20.0)
    for second in range(10):  # 10 requests spread over the window
        t.record_request(float(second))
    assert allowed_retries(t, 9.0) == 2
    for _ in range(2):
        t.finish_retry()
    # At t=10.0 the bucket of second 0 (1 request) has gone; the retries of second 9 remain.
    assert t.requests_in_window(10.0) == 9
    assert t.retries_in_window(10.0) == 2
    assert not t.try_start_retry(10.0)
    # By t=19 the retries have gone too, and only the requests of the last ten seconds count.
    for _ in range(5):
        t.record_request(19.0)
    assert t.retries_in_window(19.0) == 0
    assert allowed_retries(t, 19.0) == 1  # 20% of 5


def test_reused_bucket_starts_from_zero():
    t = tracker()
    t.record_request(3.5)
    t.record_request(13.5)  # same ring slot, ten seconds later
    assert t.requests_in_window(13.5) == 1


def test_finish_without_start_raises():
    with pytest.raises(RuntimeError):
        tracker().finish_retry()
