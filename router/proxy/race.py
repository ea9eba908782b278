"""Hedged requests: a second node is asked when the first is slow, and the first to
produce a first token wins.

How this works (for a model with `hedge:`; others go through the plain loop in
router.proxy.attempts):
1. The first attempt starts as a task. When it has produced no first token after the
   model's hedging delay (router.routing.hedging), the same request goes to the next
   candidate node as another task, up to `hedge.max` times, each one started only when
   the request is still within its node's `retries` and the retry budget allows it
   (else the hedge is `refused`).
2. The first attempt to open (headers and first token, router.upstream.request) wins.
   Every other attempt is cancelled at once: its task ends, which closes its connection,
   so the node sees the request dropped. It is logged as `outraced` and never reaches
   the client. Nothing has been sent to the client before this point, and the credit
   reservation was made once for the request, so the winner alone settles it.
3. An attempt that fails is judged as in the plain loop; when no attempt is left
   running, the next candidate is tried in turn (a failover).
4. Each hedge ends in exactly one outcome: won (it answered first), lost (another
   attempt answered first), cancelled (it failed, or the client left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from router.config.model import ModelRoute
from router.errors import UpstreamFailure
from router.observability.exchange import Attempt, Exchange
from router.observability.observer import Observer
from router.proxy.plan import Candidate
from router.routing.hedging import HedgeDelay
from router.routing.retry_budget import RetryBudgetTracker
from router.upstream.nodes import NodeRuntime
from router.upstream.request import Opened

OUTRACED = "outraced"


@dataclass(slots=True)
class Answer:
    """An attempt that opened: the node stays counted in flight until it is released."""

    opened: Opened
    served: ModelRoute
    node: NodeRuntime
    sent_at: float
    attempt: Attempt  # its record in the exchange

    def abandon(self) -> None:
        self.opened.response.close()
        self.node.release()


@dataclass(slots=True)
class Runner:
    """What one attempt is: who it asks, when it started, whether it is a hedge."""

    served: ModelRoute
    node: NodeRuntime
    started: float
    is_hedge: bool
    attempt: Attempt


class Begin(Protocol):
    """Records an attempt about to start (router.proxy.attempts decides its kind)."""

    def __call__(self, candidate: Candidate, *, first: bool, hedge: bool = False) -> Attempt: ...


Start = Callable[[Candidate, Attempt], Awaitable[Answer]]
MayRetry = Callable[[int, int, "UpstreamFailure | None"], bool]
Outraced = Callable[[ModelRoute, NodeRuntime, float], None]


class Race:
    """One hedged request's attempts; `run` returns the winner or None (see `last`)."""

    def __init__(
        self,
        *,
        model: str,
        candidates: Iterator[Candidate],
        begin: Begin,
        start: Start,
        may_retry: MayRetry,
        delay: HedgeDelay,
        budget: RetryBudgetTracker,
        observer: Observer,
        exchange: Exchange,
        outraced: Outraced,
    ) -> None:
        self.model = model
        self.candidates = candidates
        self.begin = begin
        self.start = start
        self.may_retry = may_retry
        self.delay = delay
        self.budget = budget
        self.observer = observer
        self.exchange = exchange
        self.outraced = outraced
        self.loop = asyncio.get_running_loop()
        self.running: dict[asyncio.Task[Answer], Runner] = {}
        self.last: UpstreamFailure | None = None
        self.attempts = 0
        self.retries = 0  # the `retries` setting of the node asked last
        self.hedges = 0
        self.latest = 0.0  # when the latest attempt started

    async def run(self) -> Answer | None:
        try:
            if not self._launch(is_hedge=False, is_retry=False):
                return None
            while self.running:
                done, _ = await asyncio.wait(
                    self.running, timeout=self._until_hedge(), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    self._hedge()
                    continue
                winner = self._settle(done)
                if winner is not None:
                    self._outrace_the_rest(winner)
                    return winner
                if not self.running and not self._failover():
                    return None
            return None
        finally:
            for runner in self.running.values():
                if runner.is_hedge:
                    self.observer.hedge(self.model, "cancelled")
            await self._cancel_all()

    def _until_hedge(self) -> float | None:
        """Seconds until the next hedge is due; None when no more may start."""
        if self.hedges >= self.delay.most:
            return None
        return max(0.0, self.latest + self.delay.after - self.loop.time())

    def _hedge(self) -> None:
        self.hedges += 1
        refused = self.attempts > self.retries or not self.budget.try_start_retry(self.loop.time())
        if refused:
            self.hedges = self.delay.most  # no more hedges for this request
            self.observer.hedge(self.model, "refused")
        elif not self._launch(is_hedge=True, is_retry=True):
            self.budget.finish_retry()
            self.hedges = self.delay.most
            self.observer.hedge(self.model, "refused")

    def _failover(self) -> bool:
        """Every attempt failed: the next candidate in turn, if retries allow (asked once
        the candidate is drawn: a same-node retry is not counted against `retries`)."""
        candidate = next(self.candidates, None)
        if candidate is None or not self.may_retry(self.attempts, self.retries, self.last):
            return False
        return self._launch(is_hedge=False, is_retry=True, candidate=candidate)

    def _launch(
        self, *, is_hedge: bool, is_retry: bool, candidate: Candidate | None = None
    ) -> bool:
        if candidate is None:
            candidate = next(self.candidates, None)
        if candidate is None:
            return False
        node = candidate.node
        attempt = self.begin(candidate, first=self.attempts == 0, hedge=is_hedge)
        self.attempts += 1
        self.retries = node.config.retries
        self.latest = self.loop.time()
        task = asyncio.create_task(self._attempt(candidate, attempt, counted=is_retry))
        self.running[task] = Runner(candidate.served, node, self.latest, is_hedge, attempt)
        return True

    async def _attempt(self, candidate: Candidate, attempt: Attempt, *, counted: bool) -> Answer:
        try:
            return await self.start(candidate, attempt)
        finally:
            if counted:
                self.budget.finish_retry()

    def _settle(self, done: set[asyncio.Task[Answer]]) -> Answer | None:
        """The first answer among finished attempts; failures are remembered."""
        winner: Answer | None = None
        unexpected: BaseException | None = None
        for task in done:
            runner = self.running.pop(task)
            failure = task.exception()
            if failure is None:
                answer = task.result()
                if winner is None:
                    winner = answer
                    if runner.is_hedge:
                        self.observer.hedge(self.model, "won")
                else:  # two opened together: the second is dropped like any loser
                    answer.abandon()
                    self._lost(runner)
            elif isinstance(failure, UpstreamFailure):
                self.last = failure
                if runner.is_hedge:
                    self.observer.hedge(self.model, "cancelled")
            else:
                unexpected = failure
        if unexpected is not None:  # a bug: raised, but no opened answer is left behind
            if winner is not None:
                winner.abandon()
            raise unexpected
        return winner

    def _outrace_the_rest(self, winner: Answer) -> None:
        for task, runner in self.running.items():
            # A task that opened after `wait` returned is dropped when it ends.
            task.add_done_callback(_abandon_if_opened)
            task.cancel()
            self._lost(runner)
        self.running.clear()

    def _lost(self, runner: Runner) -> None:
        if runner.is_hedge:
            self.observer.hedge(self.model, "lost")
        now = self.loop.time()
        self.outraced(runner.served, runner.node, now - runner.started)
        runner.attempt.failed(OUTRACED, None, now)

    async def _cancel_all(self) -> None:
        """Stop every attempt still running; one that opened meanwhile (it finished
        before its cancel, as the client left) is dropped, its node released."""
        tasks = list(self.running)
        self.running.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                answer = await task
            except (asyncio.CancelledError, UpstreamFailure):
                continue
            answer.abandon()


def _abandon_if_opened(task: asyncio.Task[Answer]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().abandon()
