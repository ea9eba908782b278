"""router.billing.service: on the memory store, admission is one plain call (no
coroutine, no await of the store: it does no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.billing.service import Billing
from router.billing.state.memory import MemoryStateStore
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import ModelRoute, StateConfig
from router.observability.exchange import Exchange
from router.observability.observer import Observer
from tests.support.store import PRICE, C

KEY = "sk-service-test"


async def test_a_memory_admission_does_not_go_through_the_stores_coroutine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = StateConfig(ledger_path=str(tmp_path / "usage.jsonl"))
    record = KeyRecord(KeySpec("team", credits=100 * C), hash_key(KEY))

    async def awaited(*args: object, **kwargs: object) -> None:
        raise AssertionError("the memory store's admission went through a coroutine")

    monkeypatch.setattr(MemoryStateStore, "admit", awaited)
    billing = Billing(config, (record,), Observer(None, access_log=False))
    await billing.start()
    try:
        exchange = Exchange("r1", "POST", "/v1/chat/completions", None, 0.0)
        admission = await billing.admit(KEY, exchange, ModelRoute("m", (), pricing=PRICE))
        assert admission.key_name == "team" and admission.reserved == PRICE.pre_deduct
    finally:
        await billing.stop()
