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
from collections.abc import Awaitable, Callable
from dataclasses import replace

from router.config.model import ModelRoute
from router.dialects.continuation import Transcript
from router.dialects.prefill import ContinuedRequest
from router.dialects.request import ClientRequest
from router.dialects.target import Target
from router.errors import HEALTH_FAILURES, FailureReason, UpstreamFailure
from router.observability.exchange import Attempt, Exchange
from router.observability.observer import Observer
from router.proxy.attempt_rules import continues, wants_first_token
from router.proxy.client import ClientStream
from router.proxy.continuing import ContinuingRelay
from router.proxy.keepalive import StreamRegistry
from router.proxy.outcome import final_error
from router.proxy.plan import Candidate, Kept, Plan
from router.proxy.race import Answer, Begin, Race, Start
from router.proxy.relay import Relay
from router.proxy.table import RouteTable
from router.routing.health import may_eject
from router.routing.retry_budget import RetryBudgetTracker
from router.tasks import LoopRef
from router.upstream.headers import to_node
from router.upstream.nodes import NodeRuntime
from router.upstream.request import Opened, open_response

_MIDSTREAM = UpstreamFailure(FailureReason.MIDSTREAM, "failed mid-answer")
CANCELLED = "cancelled"  # an attempt stopped by the router: the client left, or outraced


class Proxy:
    """The attempt loop; committed answers go to the relay."""

    def __init__(self, table: RouteTable, streams: StreamRegistry, observer: Observer) -> None:
        self.table = table
        self.streams = streams
        self.observer = observer
        server = lambda: table.config.server  # noqa: E731  (the loaded config's, per answer)
        self.relay = Relay(streams, server, lambda: table.redactor)
        self.continuing = ContinuingRelay(streams, observer, server)
        self.loop = LoopRef()

    async def forward(
        self, client: ClientStream, request: ClientRequest, exchange: Exchange, route: ModelRoute
    ) -> None:
        """Answer `request` from the first node that produces an answer, through
        `client`; its affinity key (router.routing.affinity_key) steers the first pick of
        a model with `affinity:`. Only nodes that can take the request's dialect are asked."""
        loop = self.loop()
        budget = self.table.budgets[route.name]
        budget.record_request(loop.time())
        # Every node speaks the request's dialect (the usual case): none to pass over.
        everyone = request.codec.name in self.table.spoken_by_all.get(route.name, ())
        serves = None if everyone else request.serves
        plan = Plan(
            self.table, self.observer, route, request.affinity_key, exchange, serves, loop=loop
        )
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
        loop = plan.loop
        budget = self.table.budgets[route.name]

        def start(candidate: Candidate, attempt: Attempt) -> Awaitable[Answer]:
            target = request.target_for(candidate.node.speaks)
            return self._attempt(request, exchange, route, candidate, target, plan, attempt)

        balancer = self.table.balancers.get(route.name)
        delay = balancer.hedging if balancer is not None else None
        if delay is None:
            answer, last = await self._in_turn(route, plan, plan.begin, start, budget)
        else:
            race = Race(
                model=route.name,
                candidates=iter(plan),
                begin=plan.begin,
                start=start,
                may_retry=self._retry_gate(route, plan, budget),
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
            now = loop.time()
            failed.attempt.failed(FailureReason.MIDSTREAM.value, None, now)
            self._judge_failure(failed.served, failed.node, _MIDSTREAM, now, False)

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
        loop = plan.loop

        def start(candidate: Candidate, attempt: Attempt) -> Awaitable[Answer]:
            target = request.target_for(candidate.node.speaks)
            if target is not None:
                prefill = candidate.served.prefill
                continued = ContinuedRequest(
                    target.request, target.node.nodes, content, reasoning, prefill
                )
                target = replace(target, request=continued)
            return self._attempt(request, exchange, route, candidate, target, plan, attempt)

        answered = exchange.answered
        failed = plan.node(answered.node) if answered is not None else None
        retries = failed.config.retries if failed is not None else 0
        last = _MIDSTREAM
        while True:
            made = len(exchange.attempts)
            begin = plan.begin_continuation
            answer, _ = await self._in_turn(route, plan, begin, start, budget, made, retries, last)
            if answer is None:
                return None
            response = answer.opened.response
            if response.status == 200 and response.content_type == "text/event-stream":
                self._committed(exchange, answer)
                return answer
            last = UpstreamFailure(
                FailureReason.STATUS_4XX, "refused the prefill", status=response.status
            )
            answer.attempt.failed(last.reason.value, last.status, loop.time())
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
        route: ModelRoute,
        plan: Plan,
        begin: Begin,
        start: Start,
        budget: RetryBudgetTracker,
        made: int = 0,
        retries: int = 0,
        last: UpstreamFailure | None = None,
    ) -> tuple[Answer | None, UpstreamFailure | None]:
        """One attempt after another until one opens: the answer, or the last failure.

        `made`: attempts this request made already; `retries`: the `retries` setting of
        the node that failed last; `last`: how it failed."""
        for tried, candidate in enumerate(plan, start=made):
            is_retry = tried > 0
            # Its attempts not counted against `retries` (plan.free) left out.
            if is_retry and not self._may_retry(route, tried - plan.free, retries, budget, last):
                break
            try:
                return await start(candidate, begin(candidate, first=tried == 0)), last
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
        if not budget.try_start_retry(self.loop().time()):
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
        attempt: Attempt,
    ) -> Answer:
        """One attempt at one node, recorded in `attempt`: its opened answer, or
        UpstreamFailure (already judged and told to `plan`). A same-node retry first
        waits until its `not_before`.

        On success the node stays counted in flight; the caller releases it after relaying.
        """
        loop = plan.loop
        served = candidate.served
        node = candidate.node
        if target is None:  # the plan offers only nodes that can take the request
            raise RuntimeError(f"node {node.name!r} cannot take a {request.codec.name} request")
        attempt.dialect = target.node.name.value  # what the node is asked in
        attempt.translated = not target.is_relayed
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
        sent_at = attempt.sent = loop.time()
        try:
            opened = await self._open(request, exchange, route, candidate, target, attempt, loop)
        except UpstreamFailure as failure:
            node.release()
            now = loop.time()
            attempt.failed(failure.reason.value, failure.status, now)
            self._judge_failure(served, node, failure, now, is_trial)
            plan.record_failure(candidate, failure, target)
            raise
        except BaseException:
            node.release()
            attempt.failed(CANCELLED, None, loop.time())
            if is_trial:
                health.release_trial()
            raise
        attempt.first_byte, attempt.first_token = opened.first_byte_at, opened.first_token_at
        return Answer(opened, served, node, sent_at, attempt, target)

    def _open(
        self,
        request: ClientRequest,
        exchange: Exchange,
        route: ModelRoute,
        candidate: Candidate,
        target: Target,
        attempt: Attempt,
        loop: asyncio.AbstractEventLoop,
    ) -> Awaitable[Opened]:
        """Send `target`'s request to the candidate's node (the trace's headers too, when
        tracing): its answer's headers and first chunk (router.upstream.request)."""
        node, served = candidate.node, candidate.served
        trace = exchange.trace
        traced = trace.headers(attempt.span_id) if trace is not None else ()
        model = candidate.upstream_model(route)
        return open_response(
            node.transport,
            node.config,
            target.request.path(node.base_path, model),
            to_node(
                request.headers, exchange.request_id, node.credential, traced, node.dialect_headers
            ),
            target.request.body(model),
            target.answers,
            until_content=wants_first_token(node, route, served),
            fallbacks_on=served.fallbacks_on,
            loop=loop,
            translation=target.translation,
        )

    def _committed(self, exchange: Exchange, answer: Answer) -> None:
        """Record the attempt that produced the answer (its headers and first chunk)."""
        served, node, opened = answer.served, answer.node, answer.opened
        now = self.loop().time()
        exchange.ttfb = now - answer.sent_at
        node.observe_latency(exchange.ttfb)
        balancer = self.table.balancers.get(served.name)  # a reload may have dropped it
        if balancer is not None:
            balancer.observe(node.name, exchange.ttfb, now)
        exchange.node = node.name
        answer.attempt.status = opened.response.status
        exchange.answered = answer.attempt
        target = answer.target
        if target.translation is not None:
            self.observer.translated(served.name, target.client.name, target.node.name)
        # Any answer that is not a failover status shows the node is working.
        self.observer.transitions(node.health.record_success(now))

    def _outraced(self, served: ModelRoute, node: NodeRuntime, waited: float) -> None:
        balancer = self.table.balancers.get(served.name)
        if balancer is not None:
            balancer.observe_outraced(node.name, waited, self.loop().time())

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
