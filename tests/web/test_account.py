"""The account documents (pure): the page's totals, and one-api's billing shapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy
from router.config.keys import KeyRecord, KeySpec
from router.errors import InvalidRequest
from router.web.account import (
    MAX_WAIT,
    UNLIMITED_USD,
    account_document,
    date_range,
    subscription_document,
    usage_document,
    wait_seconds,
)
from tests.support.store import ledger_record

C = 1_000_000
NOW = 1_796_230_000.0  # 18:46:40 UTC


def record(n: int, ended: float, charged: int, **kw) -> LedgerRecord:
    """Alice's request n, ended at `ended`, having cost `charged`."""
    return ledger_record(
        request_id=f"trace-{n}:abc123",
        key="alice",
        node="node62",
        reasoning_tokens=3,
        charged=charged,
        started=ended - 1,
        ended=ended,
        **kw,
    )


KEY = KeyRecord(KeySpec(name="alice", rpm=60, max_concurrent=3, credits=7 * C), "h")


def test_account_totals_hours_and_recent_rows():
    records = [
        record(0, NOW - 2 * 86400, 5 * C),  # older than a day: not in the totals
        record(1, NOW - 3600 * 2, C),
        record(2, NOW - 10, C // 2),
        record(3, NOW - 5, 0, outcome=Outcome.FAILED, settled_by=SettledBy.REFUND, status=502),
    ]
    doc = account_document(KEY, records, NOW)
    assert (doc["balance"], doc["rpm"], doc["max_concurrent"]) == (7.0, 60, 3)
    assert doc["last_24h"] == {
        "requests": 3,
        "credits": 1.5,
        "tokens": {"prompt": 3, "completion": 6, "reasoning": 9},
    }
    hourly = doc["credits_per_hour"]
    assert hourly["hour_starts"][-1] == int(NOW // 3600) * 3600
    assert hourly["credits"][-1] == 0.5 and hourly["credits"][-3] == 1.0
    assert sum(hourly["credits"]) == 1.5
    rows = doc["recent"]
    assert [r["request_id"] for r in rows] == ["trace-3", "trace-2", "trace-1", "trace-0"]
    assert rows[0]["outcome"] == "failed" and rows[0]["credits"] == 0.0
    assert "node" not in rows[0]


def test_subscription_is_balance_plus_charges_so_unlimited_is_one_apis_number():
    doc = subscription_document(KEY, charged_ever=3 * C)
    assert doc == {
        "object": "billing_subscription",
        "has_payment_method": True,
        "soft_limit_usd": 10.0,
        "hard_limit_usd": 10.0,
        "system_hard_limit_usd": 10.0,
        "access_until": 0,
    }
    unlimited = KeyRecord(KeySpec(name="u"), "h")
    assert subscription_document(unlimited, 5 * C)["hard_limit_usd"] == UNLIMITED_USD
    # What the clients show: hard_limit_usd - total_usage / 100 == the balance.
    assert doc["hard_limit_usd"] - usage_document(3 * C)["total_usage"] / 100 == 7.0


def test_usage_is_in_cents():
    assert usage_document(1_234_567) == {"object": "list", "total_usage": 123.4567}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, (0.0, float("inf"))),
        ("2026-12-01", "2026-12-02", (1796083200.0, 1796169600.0)),
        ("", "2026-12-02", (0.0, 1796169600.0)),
    ],
)
def test_date_range(start, end, expected):
    assert date_range(start, end) == expected


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026-12-01T00:00"])
def test_date_range_rejects_other_forms(bad):
    with pytest.raises(InvalidRequest, match="start_date must be YYYY-MM-DD"):
        date_range(bad, None)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 0.0), ("", 0.0), (" ", 0.0), ("0", 0.0), ("2.5", 2.5), ("10", 10.0)],
)
def test_wait_seconds(text, seconds):
    assert wait_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["-1", "10.5", "nan", "inf", "soon", "1e9"])
def test_wait_seconds_rejects_what_is_not_0_to_10(bad):
    with pytest.raises(InvalidRequest, match="wait must be 0-10 seconds"):
        wait_seconds(bad)


@given(st.text(max_size=40))
def test_any_wait_is_a_bounded_number_or_a_400(text):
    try:
        seconds = wait_seconds(text)
    except InvalidRequest:
        return
    assert 0 <= seconds <= MAX_WAIT
