"""Choosing a node for one attempt: pure, synchronous, no clock and no randomness.

How this works: a model's backends are grouped into priority tiers (0 first). For each
attempt the caller says which nodes are eligible (usable and not yet tried for this
request). The first tier with an eligible backend wins; within it the model's strategy
picks one:

* `weighted`: nginx's smooth weighted round-robin. Every pick adds each eligible
  backend's weight to its running score, takes the highest score, and subtracts the sum
  of eligible weights from the winner. Weights 3:1 give exactly A A B A ... (75%), spread
  out rather than in bursts, and a skipped backend simply does not take part.
* `least_inflight`: the backend with the fewest in-flight requests per unit of weight;
  ties are broken by the same smooth round-robin so equal nodes still alternate.
* `latency`: power of two choices scored by each node's peak EWMA of time to first byte
  for this model, times its in-flight + 1 (router.routing.latency).

With `affinity:` the first pick of a request with an affinity key comes from the tier's
consistent-hash ring with bounded loads (router.routing.affinity); retries, and requests
without a key, use the strategy.

The state is the round-robin scores, the latency averages and the rings, owned by one
`ModelBalancer` per model and rebuilt when routes.yaml is reloaded. The clock reading and
the random source are passed in, so every choice can be replayed in a test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from router.config.model import Backend, ModelRoute, Strategy
from router.routing.affinity import AffinityOutcome, Ring
from router.routing.hedging import HedgeDelay
from router.routing.latency import PeakEwma, failure_sample, latency_cost, two_choices

Eligible = Callable[[str], bool]
Load = Callable[[str], int]


class SmoothWeighted:
    """Smooth weighted round-robin over a fixed list of weights."""

    __slots__ = ("current", "weights")

    def __init__(self, weights: Sequence[int]) -> None:
        self.weights = tuple(weights)
        self.current = [0] * len(self.weights)

    def pick(self, eligible: Sequence[bool]) -> int | None:
        """Index of the next eligible entry, or None when none is eligible."""
        best = -1
        total = 0
        current = self.current
        for i, weight in enumerate(self.weights):
            if not eligible[i]:
                continue
            current[i] += weight
            total += weight
            if best < 0 or current[i] > current[best]:
                best = i
        if best < 0:
            return None
        current[best] -= total
        return best


class TierBalancer:
    """One priority tier of a model: its backends and their round-robin state."""

    __slots__ = ("backends", "ewma", "nodes", "ring", "rr", "strategy")

    def __init__(self, backends: Sequence[Backend], strategy: Strategy, ring: bool) -> None:
        self.backends = tuple(backends)
        self.nodes = tuple(b.node for b in self.backends)
        self.strategy = strategy
        weights = [b.weight for b in self.backends]
        self.rr = SmoothWeighted(weights)
        # Latency averages only for the strategy that reads them (a weighted or
        # least-in-flight model pays nothing for them).
        tracked = strategy is Strategy.LATENCY
        self.ewma = tuple(PeakEwma() for _ in self.backends) if tracked else ()
        self.ring = Ring(self.nodes, weights) if ring else None

    def choose(
        self, eligible: Eligible, load: Load, now: float, rng: random.Random
    ) -> Backend | None:
        """The backend to try next in this tier, or None when none is eligible."""
        mask = [eligible(node) for node in self.nodes]
        if self.strategy is Strategy.LATENCY:
            weights = self.rr.weights

            def cost(i: int) -> float:
                return latency_cost(self.ewma[i].value(now), load(self.nodes[i]))

            index = two_choices(mask, weights, cost, rng)
            return None if index is None else self.backends[index]
        if self.strategy is Strategy.LEAST_INFLIGHT and any(mask):
            scores = [
                load(b.node) / b.weight if ok else float("inf")
                for b, ok in zip(self.backends, mask, strict=True)
            ]
            lowest = min(scores)
            mask = [score == lowest for score in scores]
        index = self.rr.pick(mask)
        return None if index is None else self.backends[index]

    def choose_by_key(
        self, key: str, eligible: Eligible, load: Load, epsilon: float
    ) -> tuple[Backend | None, AffinityOutcome]:
        """The ring's node for `key` within its bounded load (None: none is eligible)."""
        assert self.ring is not None
        mask = [eligible(node) for node in self.nodes]
        index, outcome = self.ring.choose(key, mask, lambda i: load(self.nodes[i]), epsilon)
        return (None if index is None else self.backends[index]), outcome


class ModelBalancer:
    """All tiers of one model, lowest priority number first."""

    __slots__ = ("hedging", "indexes", "rng", "route", "tiers", "tracks_latency")

    def __init__(self, route: ModelRoute, rng: random.Random | None = None) -> None:
        self.route = route
        self.hedging = HedgeDelay(route.hedge) if route.hedge is not None else None
        self.tracks_latency = route.strategy is Strategy.LATENCY
        self.rng = rng or random.Random()
        ring = route.affinity is not None
        self.tiers = tuple(TierBalancer(tier, route.strategy, ring) for tier in route.tiers)
        self.indexes = {
            node: (t, i) for t, tier in enumerate(self.tiers) for i, node in enumerate(tier.nodes)
        }

    def choose(self, eligible: Eligible, load: Load, now: float = 0.0) -> Backend | None:
        """The next backend: from the first tier that still has an eligible one."""
        for tier in self.tiers:
            backend = tier.choose(eligible, load, now, self.rng)
            if backend is not None:
                return backend
        return None

    def choose_by_key(
        self, key: str | None, eligible: Eligible, load: Load, now: float = 0.0
    ) -> tuple[Backend | None, AffinityOutcome | None]:
        """A request's first pick: by its affinity key when the model has `affinity:`
        (outcome hit, moved or none), else the strategy's (outcome None)."""
        affinity = self.route.affinity
        if affinity is None:
            return self.choose(eligible, load, now), None
        if key is None:
            return self.choose(eligible, load, now), AffinityOutcome.NONE
        for tier in self.tiers:
            backend, outcome = tier.choose_by_key(key, eligible, load, affinity.epsilon)
            if backend is not None:
                return backend, outcome
        return self.choose(eligible, load, now), AffinityOutcome.MOVED

    def observe(self, node: str, seconds: float, now: float) -> None:
        """A time to first byte of `node` for this model (for `strategy: latency`, and
        for `hedge: {after: p95}`)."""
        if self.hedging is not None:
            self.hedging.observe(seconds)
        self._cost(node, seconds, now)

    def observe_outraced(self, node: str, waited: float, now: float) -> None:
        """A hedge outraced `node` after it had waited `waited` seconds: a lower bound
        of its time to first token, for its latency cost only (not the hedging p95,
        which it would otherwise pull towards the hedging delay itself)."""
        self._cost(node, waited, now)

    def observe_failure(self, node: str, now: float) -> None:
        """A failed attempt: counted as an answer slower than the other nodes of its
        tier (not itself: its penalty would compound), so a failing node is avoided."""
        where = self.indexes.get(node) if self.tracks_latency else None
        if where is not None:
            tier, index = self.tiers[where[0]], where[1]
            others = [e.value(now) for i, e in enumerate(tier.ewma) if i != index]
            tier.ewma[index].observe(failure_sample(max(others, default=0.0)), now)

    def _cost(self, node: str, seconds: float, now: float) -> None:
        where = self.indexes.get(node) if self.tracks_latency else None
        if where is not None:
            self.tiers[where[0]].ewma[where[1]].observe(seconds, now)
