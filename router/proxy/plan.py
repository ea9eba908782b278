"""The order in which one request's attempts go to nodes, and what their failures change.

How this works:
1. The balancer names backends of the model, tier by tier (the first priority tier with
   an eligible node: selectable and not yet tried), then of each fallback model.
2. When a tier has no untried node left, its nodes that failed in a way
   `retry_same_node` allows (5xx, reset, connect error, 429; not a timeout, by default)
   are tried again before the next tier or model: the one ready first, after its wait
   (the node's Retry-After up to `retry_wait.max`, else backoff; router.routing.same_node).
   A wait that would end past the node's `timeouts.total` from the request's start, or
   a node ejected meanwhile, is not retried.
   Same-node retries are not counted against `retries` (retry_same_node bounds them)
   but do count against the retry budget.
3. A failure whose error code the serving model's `fallbacks_on` names ends this order:
   the models listed there follow, once per request. That node's answer is kept, so
   the client gets it as it was when none of them answers.
4. With no eligible node at all, panic mode tries the least recently failed nodes.

A node is eligible only when it can take the request at all (`serves`: it speaks the
client's dialect, or one the request can be translated into; None when every node of
the model does).

Each attempt's wait is carried by its `Candidate` (`not_before`); the attempt itself
sleeps (router.proxy.attempts), so the plain loop and a hedged race treat retries alike.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from router.config.model import Backend, ModelRoute
from router.dialects.target import Target
from router.errors import UpstreamFailure
from router.observability.exchange import Attempt, AttemptKind, Exchange
from router.observability.observer import Observer
from router.proxy.table import RouteTable
from router.routing.balancer import ModelBalancer
from router.routing.panic import panic_candidates
from router.routing.same_node import parse_retry_after, retry_delay
from router.upstream.nodes import NodeRuntime
from router.upstream.request import CodedFailure, Opened

_RANDOM = random.Random()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One attempt to make: the model it serves, its backend, and when it may start."""

    served: ModelRoute
    backend: Backend
    node: NodeRuntime  # the backend's node, as the request found it (a reload may retire it)
    not_before: float = 0.0  # event-loop time; 0: at once
    retrying: UpstreamFailure | None = None  # a same-node retry: how the node failed before

    def upstream_model(self, requested: ModelRoute) -> str | None:
        """The model name the node is asked for; None keeps the client's own.

        A backend's `model` renames; a fallback (another model) is asked for by its own
        name; otherwise the client's name goes through unchanged (aliases included).
        """
        if self.backend.upstream_model is not None:
            return self.backend.upstream_model
        if self.served is not requested and not self.served.is_glob:
            return self.served.name
        return None


def attempt_kind(
    candidate: Candidate, requested: ModelRoute, *, first: bool, hedge: bool = False
) -> AttemptKind:
    """Why `candidate` is asked: a hedge, a same-node retry, a fallback model's node, the
    request's first attempt, or a failover to another node (in that order of precedence)."""
    if hedge:
        return AttemptKind.HEDGE
    if candidate.retrying is not None:
        return AttemptKind.SAME_NODE_RETRY
    if candidate.served is not requested:
        return AttemptKind.FALLBACK
    return AttemptKind.FIRST if first else AttemptKind.FAILOVER


@dataclass(frozen=True, slots=True)
class _Failed:
    backend: Backend
    node: NodeRuntime
    failure: UpstreamFailure
    at: float  # event-loop time
    wall: float  # Unix time (a Retry-After may be an HTTP date)


@dataclass(frozen=True, slots=True)
class Kept:
    """A node's error answer held back while the models `fallbacks_on` names are tried."""

    opened: Opened
    node: str
    model: str
    target: Target  # what that node was sent, and how its answer reads


class Plan:
    """One request's candidates (iterate once) and the failures that reshape them."""

    def __init__(
        self,
        table: RouteTable,
        observer: Observer,
        route: ModelRoute,
        affinity_key: str | None,
        exchange: Exchange,
        serves: Callable[[NodeRuntime], bool] | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.table = table
        self.observer = observer
        self.route = route
        self.affinity_key = affinity_key
        self.exchange = exchange  # the request's record, where each attempt is written
        self.serves = serves
        # The nodes as the request found them: a reload replaces the pool's dict, never
        # changes it, so a node removed meanwhile is still here (retired: not selectable).
        self.nodes = table.pool.nodes
        self.loop = loop or asyncio.get_running_loop()  # the request's (the caller has it)
        self.started = self.loop.time()
        self.failed: dict[tuple[str, str], _Failed] = {}
        self.retried: dict[tuple[str, str], int] = {}
        self.redirect: tuple[tuple[ModelRoute, ModelBalancer], ...] | None = None
        self.redirected = False
        self.kept: Kept | None = None
        # Attempts not counted against `retries`: same-node retries (retry_same_node
        # bounds them) and the switch to a fallbacks_on model (the operator asked for it).
        self.free = 0
        # One iterator for the request: a continuation after a mid-answer failure
        # (router.proxy.continuing) goes on from where the attempts before it stopped.
        self._order = self._candidates()

    def __iter__(self) -> Iterator[Candidate]:
        return self._order

    def begin(self, candidate: Candidate, *, first: bool, hedge: bool = False) -> Attempt:
        """Record an attempt at `candidate` starting now (router.proxy.race.Begin)."""
        kind = attempt_kind(candidate, self.route, first=first, hedge=hedge)
        return self._begin(candidate, kind)

    def begin_continuation(
        self, candidate: Candidate, *, first: bool, hedge: bool = False
    ) -> Attempt:
        """Record an attempt that goes on with an answer cut mid-stream."""
        return self._begin(candidate, AttemptKind.CONTINUATION)

    def _begin(self, candidate: Candidate, kind: AttemptKind) -> Attempt:
        exchange, now = self.exchange, self.loop.time()
        return exchange.new_attempt(candidate.node.name, candidate.served.name, kind, now)

    def record_failure(
        self, candidate: Candidate, failure: UpstreamFailure, target: Target | None = None
    ) -> None:
        """Remember a failed attempt (for a same-node retry, or a redirect by its code);
        `target` is what the node was sent (its kept answer reads through it)."""
        served = candidate.served
        key = (served.name, candidate.backend.node)
        self.failed[key] = _Failed(
            candidate.backend, candidate.node, failure, self.loop.time(), time.time()
        )
        if not isinstance(failure, CodedFailure):
            return
        if (
            self.kept is None
            and not self.redirected
            and failure.error_code is not None
            and target is not None
        ):
            self.kept = Kept(failure.opened, candidate.backend.node, served.name, target)
            self.redirect = self.table.redirect(served, failure.error_code)
            self.redirected = True
            self.free += 1
        else:  # a second coded answer: the first is the one the client may get
            failure.opened.response.close()

    def take_kept(self) -> Kept | None:
        """The kept answer, now the caller's to send or close."""
        kept, self.kept = self.kept, None
        return kept

    def close(self) -> None:
        """Drop a kept answer nobody sent (another node answered, or the client left)."""
        kept = self.take_kept()
        if kept is not None:
            kept.opened.response.close()

    def _candidates(self) -> Iterator[Candidate]:
        found = False
        for served, balancer in self.table.chain(self.route):
            for candidate in self._of_model(served, balancer, first=served is self.route):
                found = True
                yield candidate
            if self.redirect is not None:
                break
        if self.redirect is not None:
            redirect, self.redirect = self.redirect, None
            for served, balancer in redirect:
                yield from self._of_model(served, balancer, first=False)
            return
        if not found:
            yield from self._panic()

    def _of_model(
        self, served: ModelRoute, balancer: ModelBalancer, *, first: bool
    ) -> Iterator[Candidate]:
        """One model's backends, tier by tier, each tier's same-node retries after it."""
        load = self._load
        now = self.started
        tried: set[str] = set()
        serves = self.serves

        def eligible(name: str) -> bool:
            node = self.node(name)
            if name in tried or node is None or not node.is_selectable(now):
                return False
            return serves is None or serves(node)

        if first:  # the first pick of all may follow the affinity key
            backend, outcome = balancer.choose_by_key(self.affinity_key, eligible, load, now)
            if outcome is not None:
                self.observer.affinity(served.name, outcome)
        else:
            backend = balancer.choose(eligible, load, now)
        tier: int | None = None
        while True:
            if tier is not None and (backend is None or backend.priority != tier):
                yield from self._same_node(served, tier)
                if self.redirect is not None:
                    return
            if backend is None:
                return
            tier = backend.priority
            tried.add(backend.node)
            node = self.node(backend.node)
            if node is not None:  # it was eligible a moment ago
                yield Candidate(served, backend, node)
            if self.redirect is not None:
                return
            backend = balancer.choose(eligible, load, now)

    def _same_node(self, served: ModelRoute, tier: int) -> Iterator[Candidate]:
        """Retries of the tier's failed nodes, the one ready first first."""
        while True:
            best: tuple[float, _Failed] | None = None
            for (model, _), failed in self.failed.items():
                if model != served.name or failed.backend.priority != tier:
                    continue
                ready = self._ready_at(served, failed)
                if ready is not None and (best is None or ready < best[0]):
                    best = (ready, failed)
            if best is None:
                return
            ready, failed = best
            key = (served.name, failed.backend.node)
            del self.failed[key]
            self.retried[key] = self.retried.get(key, 0) + 1
            self.free += 1
            yield Candidate(
                served, failed.backend, failed.node, not_before=ready, retrying=failed.failure
            )
            if self.redirect is not None:
                return

    def _ready_at(self, served: ModelRoute, failed: _Failed) -> float | None:
        """When the failed node may be tried again, or None when it may not."""
        node = failed.node
        config = node.config
        retried = self.retried.get((served.name, node.name), 0)
        if retried >= config.retry_same_node.times(failed.failure.reason):
            return None
        if not node.is_selectable(self.loop.time()):
            return None
        after = parse_retry_after(failed.failure.retry_after, failed.wall)
        delay = retry_delay(config.retry_wait, after, retried, _RANDOM)
        if delay is None or failed.at + delay > self.started + config.timeouts.total:
            return None
        return failed.at + delay

    def _panic(self) -> Iterator[Candidate]:
        """Every node is down. Rather than refuse all traffic, try the least recently failed
        ones (only those with capacity: full nodes mean 503)."""
        now = self.started
        for served, _ in self.table.chain(self.route):
            by_name = {b.node: b for b in served.backends}
            found = {
                name: node
                for name in by_name
                if (node := self.node(name)) is not None
                and (self.serves is None or self.serves(node))
            }
            records = [node.health for node in found.values()]
            for record in panic_candidates(records, now):
                node = found[record.name]
                if node.has_room():
                    self.table.panic_models[served.name] = now
                    self.observer.panic(served.name, node.name)
                    yield Candidate(served, by_name[node.name], node)

    def node(self, name: str) -> NodeRuntime | None:
        """A node by name: as the request found it, else (a model a reload added, reached
        by `fallbacks_on`) the pool's now; None for one no config has."""
        return self.nodes.get(name) or self.table.pool.nodes.get(name)

    def _load(self, name: str) -> int:
        node = self.node(name)
        return node.inflight if node is not None else 0
