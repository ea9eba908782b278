"""The ledger vocabularies: the enums, the words the Lua scripts spell, the ledger fields."""

from __future__ import annotations

import re

import orjson

from router.billing.state import lua
from router.billing.state.ledger import LedgerRecord, summarize
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from tests.support.store import ledger_record


def test_settle_script_compares_settled_by_only_with_enum_values():
    words = set(re.findall(r"ARGV\[2\] == '([a-z_]+)'", lua.SETTLE))
    assert words == {"reservation", "expired", "refund"}
    assert words <= {s.value for s in SettledBy}


def test_every_settle_reply_word_has_a_meaning():
    words = set(re.findall(r"return \{'([a-z_]+)'", lua.SETTLE))
    assert words == {"settled", "already", "unknown"}
    assert words == set(lua.SETTLE_REPLIES)
    # The words the script shares with the enum are spelled as its values.
    assert {w for w in words if w != "already"} == {
        r.value for r in lua.SETTLE_REPLIES.values() if r is not SettleResult.ALREADY_SETTLED
    }


def test_outcome_values_are_the_ledger_words():
    assert [o.value for o in Outcome] == [
        "success",
        "failed",
        "disconnected",
        "client_slow",
        "expired",
    ]
    assert [s.value for s in SettledBy] == [
        "usage",
        "delivered",
        "reservation",
        "refund",
        "expired",
    ]


def _record(outcome: Outcome, settled_by: SettledBy) -> LedgerRecord:
    return ledger_record(outcome=outcome, settled_by=settled_by)


def test_ledger_fields_round_trip_as_enums():
    record = _record(Outcome.EXPIRED, SettledBy.EXPIRED)
    fields = record.to_fields()
    assert (fields["outcome"], fields["settled_by"]) == ("expired", "expired")
    back = LedgerRecord.from_fields({k.encode(): v.encode() for k, v in fields.items()})
    assert back == record
    assert back.outcome is Outcome.EXPIRED and back.settled_by is SettledBy.EXPIRED
    line = orjson.loads(orjson.dumps(record.to_json()))
    assert (line["outcome"], line["settled_by"]) == ("expired", "expired")
    assert LedgerRecord.from_fields(line) == record


def test_summary_counts_by_settlement_with_plain_string_keys():
    records = [
        _record(Outcome.SUCCESS, SettledBy.USAGE),
        _record(Outcome.FAILED, SettledBy.REFUND),
        _record(Outcome.SUCCESS, SettledBy.USAGE),
    ]
    summary = summarize(records)
    assert summary["settled_by"] == {"refund": 1, "usage": 2}
    assert all(type(k) is str for k in summary["settled_by"])
    orjson.dumps(summary)
