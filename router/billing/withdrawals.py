"""Admissions the router gave up on, withdrawn until the state store confirms it.

How this works: an admission is one script sent to Redis. When Redis stalls, the router
stops waiting after its deadline (the request gets a 503, or goes on unmetered with
`on_error: open`), but the script is already in Redis's queue and runs when Redis
resumes: without more, its reservation would be taken and, never settled, swept as
`expired` (charged) a quarter of an hour later. So each admission given up on is
withdrawn (StateStore.withdraw): refunded if it landed, refused if it lands later.
The withdrawal itself needs Redis, so the pending ones are kept here and retried by
one task, all together (the script pipeline sends them in one write), with backoff,
until the store answers. A router that stops first leaves its pending withdrawals to
the expiry sweep (docs/keys-and-credits.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from router.billing.state import StateStore
from router.errors import StateUnavailable
from router.observability.observer import Observer
from router.tasks import cancel_and_wait

MAX_PENDING = 100_000  # withdrawals kept at once; past this the sweep settles the rest
RETRY_FIRST = 0.25  # seconds before the first retry; then doubling
RETRY_MAX = 10.0


@dataclass(frozen=True, slots=True)
class Withdrawal:
    request_id: str  # the billing id the admission was sent with
    key_hash: str
    model: str


class Withdrawals:
    """Pending withdrawals of one router, and the task that makes them."""

    def __init__(self, store: StateStore, observer: Observer) -> None:
        self.store = store
        self.observer = observer
        self.pending: dict[str, Withdrawal] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, withdrawal: Withdrawal) -> None:
        """Withdraw this admission as soon as the store answers."""
        if len(self.pending) >= MAX_PENDING:
            self.observer.log.warning(
                "withdrawal_dropped", detail="too many pending; the expiry sweep settles it"
            )
            return
        self.pending[withdrawal.request_id] = withdrawal
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self._flush():
                delay = RETRY_FIRST
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            self._wake.set()

    async def _flush(self) -> bool:
        """Try every pending withdrawal once; True when none is left."""
        batch = list(self.pending.values())
        now = time.time()
        results = await asyncio.gather(
            *(self.store.withdraw(w.request_id, w.key_hash, w.model, now) for w in batch),
            return_exceptions=True,
        )
        for withdrawal, result in zip(batch, results, strict=True):
            if result is None:
                self.pending.pop(withdrawal.request_id, None)
            elif not isinstance(result, StateUnavailable):
                self.pending.pop(withdrawal.request_id, None)  # a bug: logged, not retried
                self.observer.log.error("withdrawal_failed", detail=type(result).__name__)
        return not self.pending

    async def stop(self) -> None:
        """One last try for what is pending, then stop."""
        if self.pending:
            try:
                async with asyncio.timeout(2.0):
                    await self._flush()
            except TimeoutError:
                pass
        await cancel_and_wait([self._task])
        self._task = None
