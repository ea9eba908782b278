"""router.billing.settling: settlements on the memory store, counted for the metrics once
per model and loop turn (a settlement's two locked counter increments cost more than
the rest of it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from router.billing.settling import Settler
from router.billing.state.memory import MemoryStateStore
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import StateConfig
from router.dialects.usage import Usage
from router.observability.exchange import Exchange
from router.observability.observer import Observer
from tests.support.store import PRICE, T0, C

KEY = "sk-settling-test"


class CountingObserver(Observer):
    """An observer that keeps what it is told of settled credits."""

    def __init__(self) -> None:
        super().__init__(None, access_log=False)
        self.credits: list[tuple[str, float, float]] = []

    def credits_settled(self, model: str, charged: float, refunded: float) -> None:
        self.credits.append((model, charged, refunded))


async def test_one_turns_settlements_reach_the_metrics_once_per_model(tmp_path: Path) -> None:
    record = KeyRecord(KeySpec("team", credits=100 * C), hash_key(KEY))
    store = MemoryStateStore(StateConfig(ledger_path=str(tmp_path / "usage.jsonl")), (record,))
    observer = CountingObserver()
    loop = asyncio.get_running_loop()
    settler = Settler(
        store,
        store.config,
        observer,
        backend_down=lambda: None,
        settle_now=store.settle_now,
        loop=loop,
    )
    try:
        for n, model in enumerate(["a", "b", "a", "a"]):
            admission = store.admit_now(KEY, model, f"r{n}", PRICE, T0)
            exchange = Exchange(f"r{n}", "POST", "/v1/chat/completions", None, 0.0)
            exchange.status, exchange.node = 200, "n1"
            settler.settle(admission, exchange, Usage(1000, 0))  # 1 credit of 5 reserved
        assert observer.credits == []  # counted at the end of the turn
        await asyncio.sleep(0)
        assert sorted(observer.credits) == [("a", 3.0, 12.0), ("b", 1.0, 4.0)]
    finally:
        await settler.stop()
        store.ledger.close()
