"""Forwarding one request: pick a node, fail over before the first byte, then relay.

How this works:
1. router.proxy.plan names the candidates in order: the balancer's picks tier by tier,
   a tier's same-node retries (`retry_same_node`, after a Retry-After or backoff wait),
   then the fallback models; a node error whose code `fallbacks_on` names switches to
   the models named there. At most `1 + retries` attempts are made in all, besides
   same-node retries and the switch to a `fallbacks_on` model; every retry needs the
   retry budget.
2. An attempt counts as failed on a connect error, a timeout before the first byte, a
   5xx, or a 401/403/404/408/429. Any other status (a 400 above all) is the client's
   answer and goes straight back, unless its code is one `fallbacks_on` names; when
   none of those models answers, the client gets that node's answer as it was.
3. The proxy commits to a node once it has its headers and first body chunk (its first
   token, router.upstream.request); from then on router.proxy.relay copies the answer.
   A node failing after that is not failed over: the client gets the error event (see
   router.proxy.relay), unless the model has `on_midstream_failure: continue`, when
   router.proxy.continuing asks the plan's next candidate to go on with the answer.
4. A model with `hedge:` runs its attempts as racing tasks instead (router.proxy.race);
   only the winner is committed.
5. A client that goes away cancels the handler (handler_cancellation is on), and the
   `finally` closes the upstream connection at once.

Every failure of a node reaches this module as `UpstreamFailure` (translated at the
transport seam), so nothing here catches a client library's or the OS's errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from router.config.model import ModelRoute
from router.dialects.continuation import Transcript
from router.dialects.prefill import ContinuedRequest
from router.dialects.request import ClientRequest
from router.dialects.target import Target
from router.errors import FailureReason, UpstreamFailure
from router.observability.exchange import Attempt, Exchange
from router.observability.observer import Observer
from router.proxy.attempt_rules import continues, upstream_model, wants_first_token
from router.proxy.client import ClientStream
from router.proxy.continuing import ContinuingRelay
from router.proxy.keepalive import StreamRegistry
from router.proxy.outcome import final_error
from router.proxy.plan import Candidate, Kept, Plan
from router.proxy.race import Answer, Race
from router.proxy.relay import Relay
from router.proxy.table import RouteTable
from router.routing.health import may_eject
from router.routing.retry_budget import RetryBudgetTracker
from router.upstream.headers import to_node
from router.upstream.nodes import NodeRuntime
from router.upstream.request import open_response

# Failures that count against a node's health (a 404/408/429 says nothing about it).
HEALTH_FAILURES = frozenset(
    {
        FailureReason.CONNECT,
        FailureReason.TIMEOUT,
        FailureReason.STATUS_5XX,
        FailureReason.RESET,
        FailureReason.MIDSTREAM,
    }
)
_MIDSTREAM = UpstreamFailure(FailureReason.MIDSTREAM, "failed mid-answer")


class Proxy:
    """The attempt loop; committed answers go to the relay."""

    def __init__(self, table: RouteTable, streams: StreamRegistry, observer: Observer) -> None:
        self.table = table
        self.streams = streams
        self.observer = observer
        self.relay = Relay(streams)
        self.continuing = ContinuingRelay(streams, observer)

    async def forward(
        self, client: ClientStream, request: ClientRequest, exchange: Exchange, route: ModelRoute
    ) -> None:
        """Answer `request` from the first node that produces an answer, through
        `client`; its affinity key (router.routing.affinity_key) steers the first pick of
        a model with `affinity:`. Only nodes that can take the request's dialect are asked."""
        loop = asyncio.get_running_loop()
        budget = self.table.budgets[route.name]
        budget.record_request(loop.time())
        # Every node speaks the request's dialect (the usual case): none to pass over.
        everyone = request.codec.name in self.table.spoken_by_all.get(route.name, ())
        serves = None if everyone else request.serves
        plan = Plan(self.table, self.observer, route, request.affinity_key, serves)
        try:
            await self._forward(client, request, exchange, route, plan)
        finally:
            plan.close()

    async def _forward(
        self,
        client: ClientStream,
        request: ClientRequest,
        exchange: Exchange,
        route: ModelRoute,
        plan: Plan,
    ) -> None:
        loop = asyncio.get_running_loop()
        budget = self.table.budgets[route.name]

        def start(candidate: Candidate) -> Awaitable[Answer]:
            target = request.target_for(candidate.node.speaks)
            return self._attempt(request, exchange, route, candidate, target, plan)

        may_retry = self._retry_gate(route, plan, budget)
        balancer = self.table.balancers.get(route.name)
        delay = balancer.hedging if balancer is not None else None
        if delay is None:
            answer, last = await self._in_turn(plan, start, may_retry, budget)
        else:
            race = Race(
                model=route.name,
                candidates=iter(plan),
                start=start,
                may_retry=may_retry,
                delay=delay,
                budget=budget,
                observer=self.observer,
                exchange=exchange,
                outraced=self._outraced,
            )
            answer, last = await race.run(), race.last
        if answer is None:
            kept = plan.take_kept()
            if kept is None:
                raise final_error(route, last, self.table.redactor)
            await self._send_kept(client, exchange, kept)
            return
        self._committed(exchange, answer)

        def failed_midstream(failed: Answer = answer) -> None:
            self._judge_failure(failed.served, failed.node, _MIDSTREAM, loop.time(), False)

        try:
            if continues(route, answer):

                def resume(transcript: Transcript) -> Awaitable[Answer | None]:
                    return self._resume(request, exchange, route, plan, transcript)

                await self.continuing.send(client, exchange, answer, failed_midstream, resume)
                return
            await self.relay.send(client, exchange, answer.opened, answer.target, failed_midstream)
        finally:
            answer.node.release()

    async def _resume(
        self,
        request: ClientRequest,
        exchange: Exchange,
        route: ModelRoute,
        plan: Plan,
        transcript: Transcript,
    ) -> Answer | None:
        """The next candidate's continuation of a failed answer (router.proxy.continuing),
        committed; None when none takes it up within `retries` and the retry budget. A
        node that answers it with anything but a stream (a prefill it refuses) is left."""
        budget = self.table.budgets[route.name]
        content, reasoning = transcript.content_text, transcript.reasoning_text
        loop = asyncio.get_running_loop()

        def start(candidate: Candidate) -> Awaitable[Answer]:
            target = request.target_for(candidate.node.speaks)
            if target is not None:
                prefill = candidate.served.prefill
                continued = ContinuedRequest(
                    target.request, target.node.nodes, content, reasoning, prefill
                )
                target = replace(target, request=continued)
            return self._attempt(request, exchange, route, candidate, target, plan)

        may_retry = self._retry_gate(route, plan, budget)
        failed = plan.node(exchange.attempts[-1]["node"])
        retries = failed.config.retries if failed is not None else 0
        last = _MIDSTREAM
        while True:
            made = len(exchange.attempts)
            answer, _ = await self._in_turn(plan, start, may_retry, budget, made, retries, last)
            if answer is None:
                return None
            response = answer.opened.response
            if response.status == 200 and response.content_type == "text/event-stream":
                self._committed(exchange, answer)
                return answer
            last = UpstreamFailure(
                FailureReason.STATUS_4XX, "refused the prefill", status=response.status
            )
            _record_failure(exchange, answer.node.name, answer.served.name, last)
            # An answer, if not a stream, shows the node works (and ends its trial).
            self.observer.transitions(answer.node.health.record_success(loop.time()))
            response.close()
            answer.node.release()

    async def _send_kept(self, client: ClientStream, exchange: Exchange, kept: Kept) -> None:
        """No model `fallbacks_on` named answered: the first node's own error answer."""
        exchange.node = kept.node
        await self.relay.send(client, exchange, kept.opened, kept.target, lambda: None)

    async def _in_turn(
        self,
        candidates: Iterable[Candidate],
        start: Callable[[Candidate], Awaitable[Answer]],
        may_retry: Callable[[int, int, UpstreamFailure | None], bool],
        budget: RetryBudgetTracker,
        made: int = 0,
        retries: int = 0,
        last: UpstreamFailure | None = None,
    ) -> tuple[Answer | None, UpstreamFailure | None]:
        """One attempt after another until one opens: the answer, or the last failure.

        `made`: attempts this request made already; `retries`: the `retries` setting of
        the node that failed last; `last`: how it failed."""
        for tried, candidate in enumerate(candidates, start=made):
            is_retry = tried > 0
            if is_retry and not may_retry(tried, retries, last):
                break
            try:
                return await start(candidate), last
            except UpstreamFailure as failure:
                retries = candidate.node.config.retries
                last = failure
            finally:
                if is_retry:
                    budget.finish_retry()
        return None, last

    def _retry_gate(
        self, route: ModelRoute, plan: Plan, budget: RetryBudgetTracker
    ) -> Callable[[int, int, UpstreamFailure | None], bool]:
        """`may_retry(tries, retries, last)` for one request: its attempts not counted
        against `retries` (plan.free) left out."""

        def may_retry(tries: int, retries: int, last: UpstreamFailure | None) -> bool:
            return self._may_retry(route, tries - plan.free, retries, budget, last)

        return may_retry

    def _may_retry(
        self,
        route: ModelRoute,
        attempts: int,
        retries: int,
        budget: RetryBudgetTracker,
        last: UpstreamFailure | None,
    ) -> bool:
        """Whether another attempt may start: within `retries` and the retry budget."""
        if attempts > retries:
            return False
        if not budget.try_start_retry(asyncio.get_running_loop().time()):
            self.observer.retry_budget_exhausted(route.name)
            return False
        self.observer.failover(route.name, last.reason if last is not None else "unknown")
        return True

    async def _attempt(
        self,
        request: ClientRequest,
        exchange: Exchange,
        route: ModelRoute,
        candidate: Candidate,
        target: Target | None,
        plan: Plan,
    ) -> Answer:
        """One attempt at one node: its opened answer, or UpstreamFailure (already judged
        and told to `plan`). A same-node retry first waits until its `not_before`.

        On success the node stays counted in flight; the caller releases it after relaying.
        """
        loop = asyncio.get_running_loop()
        served, backend = candidate.served, candidate.backend
        node = candidate.node
        if target is None:  # the plan offers only nodes that can take the request
            raise RuntimeError(f"node {node.name!r} cannot take a {request.codec.name} request")
        wait = candidate.not_before - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
            if candidate.retrying is not None and not node.is_selectable(loop.time()):
                raise candidate.retrying  # ejected, drained, full or retired meanwhile
        node.inflight += 1
        health = node.health
        now = loop.time()
        is_trial = health.needs_trial(now)
        if is_trial:
            self.observer.transitions(health.take_trial(now))
        sent_at = loop.time()
        try:
            model = upstream_model(backend, served, route)
            opened = await open_response(
                node.transport,
                node.config,
                target.request.path(node.base_path, model),
                to_node(request.headers, exchange.request_id, node.credential),
                target.request.body(model),
                target.node.answers,
                until_content=wants_first_token(node, route, served),
                fallbacks_on=served.fallbacks_on,
            )
        except UpstreamFailure as failure:
            node.release()
            self._judge_failure(served, node, failure, loop.time(), is_trial)
            plan.record_failure(candidate, failure, target)
            _record_failure(exchange, node.name, served.name, failure)
            raise
        except BaseException:
            node.release()
            if is_trial:
                health.release_trial()
            raise
        return Answer(opened, served, node, sent_at, target)

    def _committed(self, exchange: Exchange, answer: Answer) -> None:
        """Record the attempt that produced the answer (its headers and first chunk)."""
        served, node, opened = answer.served, answer.node, answer.opened
        now = asyncio.get_running_loop().time()
        exchange.ttfb = now - answer.sent_at
        node.observe_latency(exchange.ttfb)
        balancer = self.table.balancers.get(served.name)  # a reload may have dropped it
        if balancer is not None:
            balancer.observe(node.name, exchange.ttfb, now)
        exchange.node = node.name
        status = opened.response.status
        exchange.attempts.append(
            Attempt(node=node.name, model=served.name, failure=None, status=status)
        )
        # Any answer that is not a failover status shows the node is working.
        self.observer.transitions(node.health.record_success(now))

    def _outraced(self, served: ModelRoute, node: NodeRuntime, waited: float) -> None:
        balancer = self.table.balancers.get(served.name)
        if balancer is not None:
            balancer.observe_outraced(node.name, waited, asyncio.get_running_loop().time())

    def _judge_failure(
        self,
        route: ModelRoute,
        node: NodeRuntime,
        failure: UpstreamFailure,
        now: float,
        is_trial: bool,
    ) -> None:
        """Tell the node's health what a failed attempt says about it."""
        self.observer.upstream_failed(node.name, failure.reason)
        balancer = self.table.balancers.get(route.name)
        if balancer is not None and failure.reason in HEALTH_FAILURES:
            balancer.observe_failure(node.name, now)
        health = node.health
        if failure.status == 401:
            # The node's key is wrong. A 403 is not judged here: providers refuse one
            # model or region with it while the key is fine; a 403 on a probe (which
            # carries the node's key to no model) is the key problem (router.upstream.prober).
            self.observer.transitions(health.record_auth_failure(now))
        elif failure.reason in HEALTH_FAILURES:
            nodes = self.table.pool.nodes  # those of `route` a reload removed are left out
            records = [nodes[b.node].health for b in route.backends if b.node in nodes]
            allowed = may_eject(records, node.config.ejection.max_percent)
            self.observer.transitions(health.record_failure(now, allow_eject=allowed))
        elif is_trial:
            health.release_trial()  # a 403/404/408/429 says nothing about the node's health


def _record_failure(exchange: Exchange, node: str, model: str, failure: UpstreamFailure) -> None:
    """A failed attempt, in the access log's `attempts`. The reason's value, a plain str:
    the console log renders attempts with repr()."""
    exchange.attempts.append(
        Attempt(node=node, model=model, failure=failure.reason.value, status=failure.status)
    )
