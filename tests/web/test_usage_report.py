"""The admin console's usage views (router.web.usage_report) and key forms
(router.web.admin_keys): tables of ledger records, no event loop."""

from __future__ import annotations

import contextlib
import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy
from router.errors import InvalidRequest
from router.web.admin_keys import amount_from_json, spec_from_json
from router.web.usage_report import (
    UsageQuery,
    hourly,
    last_use,
    select,
    usage_csv,
    usage_document,
)

NOW = 1_800_001_800.0  # half past a whole hour
HOUR = 3600


def record(n: int, *, key: str = "a", model: str = "m", age: float = 60.0, **extra) -> LedgerRecord:
    fields = {
        "request_id": f"req-{n}",
        "key": key,
        "model": model,
        "node": "node62",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "reasoning_tokens": 5,
        "charged": 1_234_567,
        "status": 200,
        "outcome": Outcome.SUCCESS,
        "settled_by": SettledBy.USAGE,
        "started": NOW - age - 1,
        "ended": NOW - age,
        **extra,
    }
    return LedgerRecord(**fields)


RECORDS = [
    record(1, age=30),
    record(2, key="b", age=90),
    record(3, model="n", age=2 * HOUR + 5),
    record(4, outcome=Outcome.FAILED, charged=0, settled_by=SettledBy.REFUND, age=10),
]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ({}, ["req-4", "req-1", "req-2", "req-3"]),  # newest first
        ({"key": "a"}, ["req-4", "req-1", "req-3"]),
        ({"model": "n"}, ["req-3"]),
        ({"outcome": "failed"}, ["req-4"]),
        ({"since": "1h"}, ["req-4", "req-1", "req-2"]),
        ({"until": str(NOW - 60)}, ["req-2", "req-3"]),
        ({"since": "1970-01-01T00:00:00Z", "key": "b"}, ["req-2"]),
    ],
)
def test_select_filters(query: dict[str, str], ids: list[str]) -> None:
    chosen = select(RECORDS, UsageQuery.parse(query, NOW))
    assert [r.request_id for r in chosen] == ids


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"outcome": "won"}, "outcome must be one of"),
        ({"since": "yesterday"}, "since must be a time"),
        ({"limit": "0"}, "limit must be an integer from 1 to 500"),
        ({"limit": "501"}, "limit must be"),
        ({"offset": "-1"}, "offset must be"),
    ],
)
def test_bad_queries_are_named(query: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        UsageQuery.parse(query, NOW)


def test_paging_and_totals_cover_the_whole_selection() -> None:
    doc = usage_document(RECORDS, UsageQuery.parse({"limit": "2", "offset": "1"}, NOW), NOW)
    assert doc["total"] == 4 and [r["request_id"] for r in doc["records"]] == ["req-1", "req-2"]
    assert doc["totals"]["requests"] == 4
    assert doc["totals"]["credits"] == pytest.approx(3 * 1.234567)
    assert doc["totals"]["tokens"] == {"prompt": 40, "answer": 80, "reasoning": 20}
    assert doc["keys"] == ["a", "b"] and doc["models"] == ["m", "n"]


def test_hourly_series_per_key_and_model() -> None:
    chart = hourly(RECORDS, NOW, 0.0)
    hours = chart["hour_starts"]
    assert len(hours) == 24 and hours[-1] == NOW - HOUR / 2  # the hour now is the last slot
    assert chart["by_key"]["a"][-1] == pytest.approx(1.234567)  # req-4 charged 0
    assert chart["by_key"]["a"][-3] == pytest.approx(1.234567)  # two hours back: req-3
    assert chart["by_model"]["n"][-3] == pytest.approx(1.234567)
    assert sum(chart["by_key"]["b"]) == pytest.approx(1.234567)


def test_csv_is_exact_and_safe_to_open() -> None:
    odd = record(5, key="c", model="=HYPERLINK(1)", charged=1)
    text = usage_csv([*RECORDS, odd], UsageQuery())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5
    assert sum(Decimal(r["credits"]) for r in rows) == Decimal("3.703702")
    [hostile] = [r for r in rows if r["key"] == "c"]
    assert hostile["model"] == "'=HYPERLINK(1)" and hostile["credits"] == "0.000001"
    assert rows[0]["time"].endswith("Z")


def test_last_use_is_each_keys_latest_end() -> None:
    assert last_use(RECORDS) == {"a": NOW - 10, "b": NOW - 90}


def test_spec_from_json() -> None:
    spec = spec_from_json(
        {"name": "t", "credits": "12.5", "rpm": "60", "tpm": "", "models": "gemini-*, x"}
    )
    assert (spec.credits, spec.rpm, spec.tpm, spec.models) == (
        12_500_000,
        60,
        None,
        ("gemini-*", "x"),
    )
    assert spec_from_json({"name": "t"}).models == ("*",)
    for body, words in [
        ([], "JSON object"),
        ({"name": "t", "rpm": 1.5}, "rpm must be a whole number"),
        ({"name": "t", "models": 3}, "models must be"),
        ({"name": "t", "max_concurrent": 0}, "max_concurrent must be at least 1"),
    ]:
        with pytest.raises(InvalidRequest, match=words):
            spec_from_json(body)


@pytest.mark.parametrize(
    ("body", "micro"), [({"amount": "+5000"}, 5_000_000_000), ({"amount": -2.5}, -2_500_000)]
)
def test_amount(body: dict[str, object], micro: int) -> None:
    assert amount_from_json(body) == micro


@pytest.mark.parametrize("body", [{}, {"amount": 0}, {"amount": True}, {"amount": "x"}, None])
def test_bad_amounts(body: object) -> None:
    with pytest.raises(InvalidRequest):
        amount_from_json(body)


# Hostile input: the admin API's query strings and bodies come from outside.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(["key", "model", "outcome", "since", "until", "limit", "offset", "x"])


@settings(max_examples=300, deadline=None)
@given(query=st.dictionaries(FIELDS, st.text(max_size=40), max_size=7))
def test_any_query_is_a_query_or_a_400(query: dict[str, str]) -> None:
    try:
        parsed = UsageQuery.parse(query, NOW)
    except InvalidRequest:
        return
    assert 1 <= parsed.limit <= 500 and parsed.offset >= 0
    usage_document(RECORDS, parsed, NOW)  # and it can be answered
    usage_csv(RECORDS, parsed)


@settings(max_examples=300, deadline=None)
@given(
    body=JSON
    | st.fixed_dictionaries(
        {"name": st.text(max_size=70)},
        optional={
            "credits": JSON,
            "rpm": JSON,
            "tpm": JSON,
            "max_concurrent": JSON,
            "models": JSON,
        },
    )
)
def test_any_key_body_is_a_spec_or_a_400(body: object) -> None:
    try:
        spec = spec_from_json(body)
    except InvalidRequest:
        return
    assert spec.name and spec.models


@settings(max_examples=200, deadline=None)
@given(body=JSON | st.fixed_dictionaries({"amount": JSON}))
def test_any_amount_is_micro_credits_or_a_400(body: object) -> None:
    with contextlib.suppress(InvalidRequest):
        assert isinstance(amount_from_json(body), int)
