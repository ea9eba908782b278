"""router.billing.withdrawals: admissions given up on are withdrawn once the store answers."""

from __future__ import annotations

import asyncio

from router.billing.withdrawals import Withdrawal, Withdrawals
from router.errors import StateUnavailable
from router.observability.observer import Observer


class FlakyStore:
    """Refuses the first `down` rounds of withdrawals, then takes them."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.rounds: list[set[str]] = []
        self.withdrawn: list[str] = []

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        if not self.rounds or request_id in self.rounds[-1]:
            self.rounds.append(set())
        self.rounds[-1].add(request_id)
        if len(self.rounds) <= self.down:
            raise StateUnavailable()
        self.withdrawn.append(request_id)


async def test_pending_withdrawals_are_retried_until_the_store_answers() -> None:
    store = FlakyStore(down=2)
    withdrawals = Withdrawals(store, Observer(None, access_log=False))  # type: ignore[arg-type]
    withdrawals.add(Withdrawal("r1", "h", "m"))
    withdrawals.add(Withdrawal("r2", "h", "m"))
    for _ in range(200):
        if not withdrawals.pending:
            break
        await asyncio.sleep(0.05)
    assert sorted(store.withdrawn) == ["r1", "r2"]
    assert withdrawals.pending == {}
    await withdrawals.stop()


async def test_stop_makes_one_last_try() -> None:
    store = FlakyStore(down=0)
    withdrawals = Withdrawals(store, Observer(None, access_log=False))  # type: ignore[arg-type]
    withdrawals.pending["r3"] = Withdrawal("r3", "h", "m")  # added, its task not yet run
    await withdrawals.stop()
    assert store.withdrawn == ["r3"]
