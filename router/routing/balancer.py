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

The only state is the round-robin scores, owned by one `ModelBalancer` per model and
rebuilt when routes.yaml is reloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from router.config.model import Backend, ModelRoute, Strategy

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

    __slots__ = ("backends", "nodes", "rr", "strategy")

    def __init__(self, backends: Sequence[Backend], strategy: Strategy) -> None:
        self.backends = tuple(backends)
        self.nodes = tuple(b.node for b in self.backends)
        self.strategy = strategy
        self.rr = SmoothWeighted([b.weight for b in self.backends])

    def choose(self, eligible: Eligible, load: Load) -> Backend | None:
        """The backend to try next in this tier, or None when none is eligible."""
        mask = [eligible(node) for node in self.nodes]
        if self.strategy is Strategy.LEAST_INFLIGHT and any(mask):
            scores = [
                load(b.node) / b.weight if ok else float("inf")
                for b, ok in zip(self.backends, mask, strict=True)
            ]
            lowest = min(scores)
            mask = [score == lowest for score in scores]
        index = self.rr.pick(mask)
        return None if index is None else self.backends[index]


class ModelBalancer:
    """All tiers of one model, lowest priority number first."""

    __slots__ = ("route", "tiers")

    def __init__(self, route: ModelRoute) -> None:
        self.route = route
        self.tiers = tuple(TierBalancer(tier, route.strategy) for tier in route.tiers)

    def choose(self, eligible: Eligible, load: Load) -> Backend | None:
        """The next backend: from the first tier that still has an eligible one."""
        for tier in self.tiers:
            backend = tier.choose(eligible, load)
            if backend is not None:
                return backend
        return None
