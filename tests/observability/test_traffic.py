"""The status page's traffic ring: pure, no event loop."""

from __future__ import annotations

from router.observability.traffic import WINDOW_SECONDS, Traffic

T = 10_000.0


def test_requests_and_errors_land_in_the_bucket_of_their_second():
    traffic = Traffic()
    for _ in range(20):
        traffic.record("m", "a", False, T)
    traffic.record("m", "a", True, T - 15)
    traffic.attempt("b", True, T - 1)
    series = traffic.series(T, step=10)
    assert series["buckets"] == WINDOW_SECONDS // 10
    a = series["nodes"]["a"]
    assert a["requests_per_s"][-1] == 2.0  # 20 requests in the last 10 s
    assert a["errors_per_s"][-1] == 0.0
    assert a["requests_per_s"][-2] == 0.1 and a["errors_per_s"][-2] == 0.1
    assert series["nodes"]["b"]["errors_per_s"][-1] == 0.1
    assert sum(a["requests_per_s"]) == 2.1


def test_slots_older_than_the_window_are_forgotten_and_reused():
    traffic = Traffic()
    traffic.record("m", "a", True, T)
    later = T + WINDOW_SECONDS  # the same slot of the ring, one lap later
    assert sum(traffic.series(later)["nodes"]["a"]["requests_per_s"]) == 0.0
    traffic.record("m", "a", False, later)
    a = traffic.series(later)["nodes"]["a"]
    assert a["requests_per_s"][-1] == 0.1 and sum(a["errors_per_s"]) == 0.0


def test_shares_count_answers_per_model_and_node():
    traffic = Traffic()
    for node in ["a", "a", "a", "b"]:
        traffic.record("m", node, False, T)
    traffic.record("other", "b", False, T)
    traffic.attempt("c", True, T)  # a failed attempt is not an answer
    assert traffic.shares("m") == {"a": 3, "b": 1}
    assert traffic.shares("other") == {"b": 1}
