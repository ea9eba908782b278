"""The memory store's request path does no I/O and never yields; its ledger writes once per
loop turn (router.billing.state.memory, router.billing.state.ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from router.billing.state import Outcome, SettleResult
from router.billing.state import memory as memory_module
from router.billing.state.ledger import JsonlLedger
from router.billing.state.memory import MemoryStateStore
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import StateConfig
from router.dialects.usage import Usage
from router.errors import AuthRejected
from tests.support.store import PRICE, T0, C, ledger_record

KEY = "sk-memory-test"


def finished_at_once(coro: Coroutine[Any, Any, Any]) -> Any:
    """The coroutine's result, provided it ends without suspending once (no I/O, no await
    of anything pending); no event loop is needed to run it."""
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    return done.value.value


def store(tmp_path: Path) -> MemoryStateStore:
    record = KeyRecord(KeySpec("team", rpm=1000, max_concurrent=8, credits=100 * C), hash_key(KEY))
    return MemoryStateStore(StateConfig(ledger_path=str(tmp_path / "usage.jsonl")), (record,))


def test_admission_and_settlement_never_yield(tmp_path: Path) -> None:
    memory = store(tmp_path)
    try:
        _admit_and_settle(memory)
    finally:
        memory.ledger.close()


def _admit_and_settle(memory: MemoryStateStore) -> None:
    admission = finished_at_once(memory.admit(KEY, "m", "r1", PRICE, T0))
    assert admission.reserved == PRICE.pre_deduct
    settled = finished_at_once(
        memory.settle(admission, Usage(10, 20), Outcome.SUCCESS, node="n1", status=200, now=T0)
    )
    assert settled.result is SettleResult.SETTLED
    again = memory.settle_now(admission, None, Outcome.SUCCESS, node="n1", status=200, now=T0)
    assert again.result is SettleResult.ALREADY_SETTLED
    with pytest.raises(AuthRejected):
        finished_at_once(memory.admit("sk-unknown", "m", "r2", PRICE, T0))


def test_the_ledger_writes_a_loop_turns_lines_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    loop = asyncio.new_event_loop()
    try:
        ledger = JsonlLedger(path, loop)
        for n in range(3):
            ledger.append(ledger_record(request_id=f"r{n}"))
        assert not path.exists()  # nothing written during the turn
        loop.run_until_complete(asyncio.sleep(0))
        assert [r.request_id for r in JsonlLedger(path).read()] == ["r0", "r1", "r2"]
        ledger.append(ledger_record(request_id="r3"))
        assert len(ledger.read()) == 4  # reading writes what is pending first
        ledger.close()
    finally:
        loop.close()


def test_without_a_loop_the_ledger_writes_each_line_at_once(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    ledger = JsonlLedger(path)
    ledger.append(ledger_record())
    assert len(JsonlLedger(path).read()) == 1
    ledger.close()


def test_settled_requests_leave_no_object_for_the_garbage_collector(tmp_path: Path) -> None:
    """Each settled id is remembered a day (settling is idempotent): as dict entries of
    shared values, not a tuple per request that every full collection would walk."""
    import gc

    memory = store(tmp_path)
    try:
        settle = memory.settle_now
        for n in range(50):  # warm: every lazily made structure exists
            admission = memory.admit_now(KEY, "m", f"warm{n}", PRICE, T0)
            settle(admission, Usage(1, 1), Outcome.SUCCESS, node="n1", status=200, now=T0)
        gc.collect()
        before = len(gc.get_objects())
        for n in range(500):
            admission = memory.admit_now(KEY, "m", f"r{n}", PRICE, T0 + n)
            settle(admission, Usage(1, 1), Outcome.SUCCESS, node="n1", status=200, now=T0 + n)
        gc.collect()
        assert len(gc.get_objects()) - before < 50
        again = settle(admission, None, Outcome.SUCCESS, node="n1", status=200, now=T0 + 500)
        assert again.result is SettleResult.ALREADY_SETTLED
    finally:
        memory.ledger.close()


def test_settled_ids_are_remembered_within_a_bound(tmp_path: Path, monkeypatch) -> None:
    """At 1,000 requests/s a day of settled ids is 86 million dict entries (tens of GB):
    the memory store remembers at most MAX_DONE of them, the oldest forgotten first, and
    a recent one is still known as settled."""
    monkeypatch.setattr(memory_module, "MAX_DONE", 100)
    memory = store(tmp_path)
    try:
        admissions = []
        for n in range(250):
            admission = memory.admit_now(KEY, "m", f"r{n}", PRICE, T0)
            memory.settle_now(
                admission, Usage(1, 1), Outcome.SUCCESS, node="n1", status=200, now=T0
            )
            admissions.append(admission)
        assert len(memory._done_by) <= 100 and len(memory._done_until) <= 100
        latest = memory.settle_now(
            admissions[-1], None, Outcome.SUCCESS, node="n1", status=200, now=T0
        )
        assert latest.result is SettleResult.ALREADY_SETTLED
    finally:
        memory.ledger.close()
