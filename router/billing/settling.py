"""Settling each request's credits once, however it ended.

How this works: `settle` runs when a request ends (router.web.pipeline). On a store that
settles without I/O (memory) it settles there and then: no task, no await, nothing to
retry. On Redis it is queued on the store's script pipeline, which sends it with the
other calls of its loop turn, and a done-callback reports it: no task, and the request
does not wait. Only a settlement that must wait (for usage read after the client left)
or that failed (the backend unreachable) takes a task, so a client that goes away cannot
cancel it, retried with backoff (settling is idempotent per request id) until the
reservation would expire anyway (then the sweep charges it).
An answer is charged from the usage the node reported, or, when none reached the
client, from what the client received (router.billing.delivered); no successful answer
is refunded in full.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from router.billing.delivered import billed_usage
from router.billing.state import (
    Admission,
    InlineSettle,
    Outcome,
    QueuedSettle,
    Settlement,
    SettleResult,
    StateStore,
)
from router.config.credits import micro_to_credits
from router.config.model import StateConfig
from router.dialects.usage import Usage
from router.errors import StateUnavailable
from router.observability.exchange import Exchange
from router.observability.listeners import Settled
from router.observability.observer import Observer
from router.tasks import cancel_and_wait

SETTLE_RETRY_FIRST = 0.25  # seconds before the first retry of a settlement; then doubling
SETTLE_RETRY_MAX = 10.0


class Settler:
    """Settles admissions against one store and tells the observer how each went."""

    def __init__(
        self,
        store: StateStore,
        config: StateConfig,
        observer: Observer,
        *,
        backend_down: Callable[[], None],
        settle_now: InlineSettle | None,
        settle_soon: QueuedSettle | None = None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """`settle_now`: the store's settling without I/O, when it has one (memory);
        `settle_soon`: its settling as a future, with no task (Redis)."""
        self.store = store
        self.config = config
        self.observer = observer
        self.backend_down = backend_down
        self._settle_now = settle_now
        self._settle_soon = settle_soon
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: set[asyncio.Future[Settlement]] = set()
        self._credits: dict[str, list[int]] = {}  # model -> [charged, refunded] this turn

    def settle(self, admission: Admission, exchange: Exchange, usage: Usage | None) -> None:
        """Settle now (no I/O needed) or in a task: a cancelled handler must not skip or
        split it."""
        if not admission.is_metered:
            return
        if exchange.late_usage is None:
            if self._settle_now is not None:
                self._settle_inline(self._settle_now, admission, exchange, usage)
                return
            if self._settle_soon is not None:
                self._settle_queued(self._settle_soon, admission, exchange, usage)
                return
        self._spawn(self._settle(admission, exchange, usage))

    def _spawn(self, settling: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(settling)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Let pending settlements finish (5 s at most), then stop the rest: their
        reservations expire and the sweep charges them."""
        if self._queued:
            await asyncio.wait(list(self._queued), timeout=5)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await cancel_and_wait(list(self._tasks))
        self._flush_credits()

    def _settle_queued(
        self,
        settle_soon: QueuedSettle,
        admission: Admission,
        exchange: Exchange,
        usage: Usage | None,
    ) -> None:
        """Queue the settlement on the store's pipeline; a callback reports it."""
        outcome, usage = _billed_now(exchange, usage)
        started = self._loop.time()
        settling = settle_soon(
            admission,
            usage,
            outcome,
            node=exchange.node,
            status=exchange.status or 499,
            now=time.time(),
        )
        self._queued.add(settling)
        settling.add_done_callback(
            functools.partial(self._queued_done, admission, exchange, usage, outcome, started)
        )

    def _queued_done(
        self,
        admission: Admission,
        exchange: Exchange,
        usage: Usage | None,
        outcome: Outcome,
        started: float,
        settling: asyncio.Future[Settlement],
    ) -> None:
        self._queued.discard(settling)
        if settling.cancelled():  # the store closed: the reservation expires into the ledger
            return
        error = settling.exception()
        if error is None:
            self._settled(admission, exchange, settling.result(), started, self._loop.time())
        elif isinstance(error, StateUnavailable):
            self.backend_down()
            self._spawn(self._retried(admission, exchange, usage, outcome, started, wait=True))
        else:  # a bug: logged; the reservation expires into the ledger
            self.observer.log.error("settle_failed", detail=type(error).__name__)

    def _settle_inline(
        self,
        settle_now: InlineSettle,
        admission: Admission,
        exchange: Exchange,
        usage: Usage | None,
    ) -> None:
        """Settle on a store without I/O (memory): no task, no await, nothing to retry."""
        outcome, usage = _billed_now(exchange, usage)
        loop = self._loop
        started = loop.time()
        settlement = settle_now(
            admission,
            usage,
            outcome,
            node=exchange.node,
            status=exchange.status or 499,
            now=time.time(),
        )
        self._settled(admission, exchange, settlement, started, loop.time())

    async def _settle(self, admission: Admission, exchange: Exchange, usage: Usage | None) -> None:
        outcome = settle_outcome(exchange)
        usage = billed_usage(
            outcome,
            usage,
            late=await _late_usage(exchange),
            delivered=exchange.delivered,
            prompt_estimate=exchange.prompt_estimate,
        )
        await self._retried(admission, exchange, usage, outcome, self._loop.time(), wait=False)

    async def _retried(
        self,
        admission: Admission,
        exchange: Exchange,
        usage: Usage | None,
        outcome: Outcome,
        started: float,
        *,
        wait: bool,
    ) -> None:
        """Settle, retried while the backend is unreachable (`wait`: it just failed once).

        Settling is idempotent per request id, so it is retried until the backend answers
        or the reservation would expire anyway (then the sweep charges the reservation)."""
        deadline = admission.started + self.config.reservation_ttl - 5
        delay = SETTLE_RETRY_FIRST
        while True:
            if wait:
                if time.time() + delay >= deadline:
                    self.observer.settle_failed(exchange.request_id)
                    failed = Settled(started, self._loop.time(), "failed")
                    self.observer.request_settled(exchange, failed)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, SETTLE_RETRY_MAX)
            try:
                settlement = await self.store.settle(
                    admission,
                    usage,
                    outcome,
                    node=exchange.node,
                    status=exchange.status or 499,
                    now=time.time(),
                )
                break
            except StateUnavailable:
                self.backend_down()
                wait = True
        self._settled(admission, exchange, settlement, started, self._loop.time())

    def _count_credits(self, model: str, charged: int, refunded: int) -> None:
        """Add to the credits metrics at the end of this loop turn, once per model (two
        counter increments under a lock each, per settlement, cost more than the rest)."""
        pending = self._credits.get(model)
        if pending is None:
            if not self._credits:
                self._loop.call_soon(self._flush_credits)
            pending = self._credits[model] = [0, 0]
        pending[0] += charged
        pending[1] += refunded

    def _flush_credits(self) -> None:
        credits, self._credits = self._credits, {}
        for model, (charged, refunded) in credits.items():
            self.observer.credits_settled(
                model, micro_to_credits(charged), micro_to_credits(refunded)
            )

    def _settled(
        self,
        admission: Admission,
        exchange: Exchange,
        settlement: Settlement,
        started: float,
        ended: float,
    ) -> None:
        """Tell metrics, logs and traces how a request's credits were settled."""
        if settlement.recovered:
            self.observer.reservation_recovered(exchange.request_id)
        refunded = max(0, admission.reserved - settlement.charged)
        if settlement.result is SettleResult.SETTLED:
            self._count_credits(admission.model, settlement.charged, refunded)
        else:
            refunded = 0
        if not self.observer.settle_listeners:
            return
        self.observer.request_settled(
            exchange,
            Settled(
                started,
                ended,
                settlement.result.value,
                settlement.charged,
                refunded,
                settlement.recovered,
            ),
        )


_OUTCOMES = {outcome.value: outcome for outcome in Outcome}


def settle_outcome(exchange: Exchange) -> Outcome:
    """How a request ended, for its charge. A request the router or a node failed (an
    error code: a 4xx/5xx, a node failing mid-answer) is FAILED, refunded, even when the
    client also left while the error event was being written; a client cut for not
    reading is CLIENT_SLOW and one that left an answer still going DISCONNECTED (both
    charged what they received: router.billing.delivered); else SUCCESS."""
    return _OUTCOMES[exchange.outcome]


async def _late_usage(exchange: Exchange) -> Usage | None:
    """The node's usage read after its client left (router.proxy.grace), once known."""
    pending = exchange.late_usage
    if pending is None:
        return None
    try:
        return await pending  # bounded by the grace itself
    except Exception:  # the read failed: nothing learnt
        return None


def _billed_now(exchange: Exchange, usage: Usage | None) -> tuple[Outcome, Usage | None]:
    """How the request ended, and the usage billed for it when no late usage is awaited."""
    outcome = settle_outcome(exchange)
    delivered, estimate = exchange.delivered, exchange.prompt_estimate
    return outcome, billed_usage(
        outcome, usage, late=None, delivered=delivered, prompt_estimate=estimate
    )
