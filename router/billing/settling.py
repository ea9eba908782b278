"""Settling each request's credits once, however it ended.

How this works: `settle` runs when a request ends (router.web.pipeline). On a store that
settles without I/O (memory) it settles there and then: no task, no await, nothing to
retry. Otherwise it settles in a task of its own, so a client that goes away cannot
cancel it, retried with backoff while the backend is unreachable (settling is idempotent
per request id) until the reservation would expire anyway (then the sweep charges it).
An answer is charged from the usage the node reported, or, when none reached the
client, from what the client received (router.billing.delivered); no successful answer
is refunded in full.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from router.billing.delivered import billed_usage
from router.billing.state import (
    Admission,
    InlineSettle,
    Outcome,
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
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """`settle_now`: the store's settling without I/O, when it has one (memory)."""
        self.store = store
        self.config = config
        self.observer = observer
        self.backend_down = backend_down
        self._settle_now = settle_now
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def settle(self, admission: Admission, exchange: Exchange, usage: Usage | None) -> None:
        """Settle now (no I/O needed) or in a task: a cancelled handler must not skip or
        split it."""
        if not admission.is_metered:
            return
        if self._settle_now is not None and exchange.late_usage is None:
            self._settle_inline(self._settle_now, admission, exchange, usage)
            return
        task = self._loop.create_task(self._settle(admission, exchange, usage))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Let pending settlements finish (5 s at most), then stop the rest: their
        reservations expire and the sweep charges them."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await cancel_and_wait(list(self._tasks))

    def _settle_inline(
        self,
        settle_now: InlineSettle,
        admission: Admission,
        exchange: Exchange,
        usage: Usage | None,
    ) -> None:
        """Settle on a store without I/O (memory): no task, no await, nothing to retry."""
        outcome = settle_outcome(exchange)
        usage = billed_usage(
            outcome,
            usage,
            late=None,
            delivered=exchange.delivered,
            prompt_estimate=exchange.prompt_estimate,
        )
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
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Settling is idempotent per request id, so it is retried until the backend answers
        # or the reservation would expire anyway (then the sweep charges the reservation).
        deadline = admission.started + self.config.reservation_ttl - 5
        delay = SETTLE_RETRY_FIRST
        while True:
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
                if time.time() + delay >= deadline:
                    self.observer.settle_failed(exchange.request_id)
                    self.observer.request_settled(exchange, Settled(started, loop.time(), "failed"))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, SETTLE_RETRY_MAX)
        self._settled(admission, exchange, settlement, started, loop.time())

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
            self.observer.credits_settled(
                admission.model,
                micro_to_credits(settlement.charged),
                micro_to_credits(refunded),
            )
        else:
            refunded = 0
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


def settle_outcome(exchange: Exchange) -> Outcome:
    """How a request ended, for its charge. A request the router or a node failed (an
    error code: a 4xx/5xx, a node failing mid-answer) is FAILED, refunded, even when the
    client also left while the error event was being written; a client cut for not
    reading is CLIENT_SLOW and one that left an answer still going DISCONNECTED (both
    charged what they received: router.billing.delivered); else SUCCESS."""
    return Outcome(exchange.outcome)


async def _late_usage(exchange: Exchange) -> Usage | None:
    """The node's usage read after its client left (router.proxy.grace), once known."""
    pending = exchange.late_usage
    if pending is None:
        return None
    try:
        return await pending  # bounded by the grace itself
    except Exception:  # the read failed: nothing learnt
        return None
