"""router.billing.state.ledger: a record's JSONL line, written without building a dict."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy

PARTS = (
    '[{"node":"a","prompt_tokens":1,"completion_tokens":2,"reasoning_tokens":0,"estimated":false}]'
)


def record(**changes: object) -> LedgerRecord:
    fields: dict[str, object] = {
        "request_id": "abc:0123",
        "key": "team",
        "model": "m",
        "node": "n1",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "reasoning_tokens": 0,
        "charged": 1_234_567,
        "status": 200,
        "outcome": Outcome.SUCCESS,
        "settled_by": SettledBy.USAGE,
        "started": 1700000000.25,
        "ended": 1700000001.5,
    }
    fields.update(changes)
    return LedgerRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"parts": PARTS},
        {"charged": 0, "outcome": Outcome.FAILED, "settled_by": SettledBy.REFUND},
        {"key": 'quote " and \\ and ünïcode', "node": ""},
        {"status": 0, "outcome": Outcome.EXPIRED, "settled_by": SettledBy.EXPIRED},
    ],
    ids=["usual", "parts", "refund", "escapes", "expired"],
)
def test_the_line_is_to_json_as_one_line(changes: dict[str, object]) -> None:
    line = record(**changes).json_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line == orjson.dumps(record(**changes).to_json()) + b"\n"
    assert LedgerRecord.from_fields(orjson.loads(line)) == record(**changes)


@given(
    key=st.text(),
    charged=st.integers(min_value=-(10**15), max_value=10**15),
    started=st.floats(min_value=0, max_value=4e9),
)
def test_any_record_gives_the_same_line_both_ways(key: str, charged: int, started: float) -> None:
    made = record(key=key, charged=charged, started=started)
    assert made.json_line() == orjson.dumps(made.to_json()) + b"\n"


@pytest.mark.parametrize("changes", [{}, {"parts": PARTS}], ids=["usual", "parts"])
def test_the_stream_entry_is_to_fields_less_what_the_script_decides(
    changes: dict[str, object],
) -> None:
    made = record(**changes)
    fields = made.to_fields()
    del fields["charged"], fields["settled_by"]
    assert orjson.loads(made.stream_entry()) == [t for pair in fields.items() for t in pair]
