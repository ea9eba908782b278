"""`strategy: latency`: power of two choices scored by a peak-sensitive moving average.

Pure: the caller passes the clock reading and the random source.

How this works (Finagle's PeakEwma):
* Each (model, node) keeps a cost in seconds of time to first byte. A sample above the
  cost replaces it at once (a peak is believed immediately); a lower one pulls it down
  with weight `1 - exp(-dt / DECAY)`, dt the seconds since the last update, so a node
  recovers smoothly rather than on a single fast answer.
* The cost also decays towards zero while no sample arrives (reading it counts as a
  zero sample), so a node that was slow, ejected or simply not chosen for a while is
  tried again and re-measured; that is how a recovering node gets traffic back.
* A failed attempt counts as a sample of twice the slowest cost of the tier's other
  nodes, and at least `FAILURE_PENALTY` seconds: a node failing fast on a slow model
  must not look fast (its own cost is left out, so failures do not compound).
* A pick draws two distinct eligible nodes, each with probability proportional to its
  weight, and takes the one with the lower cost x (in-flight + 1). A node with no sample
  yet (or whose cost has faded to nothing) costs 0 while it has nothing in flight:
  whenever it is drawn it wins, which is its trial share (about 2/n of the picks until
  its first answer). With requests in flight and still no sample it costs
  `UNMEASURED_BUSY` plus their number (Finagle's rule): a node whose first answer hangs
  gets one trial at a time, not 2/n of the traffic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

DECAY = 10.0  # seconds: how fast the cost follows lower samples and fades when idle
FAILURE_PENALTY = 5.0  # seconds: the least a failed attempt counts as
UNMEASURED_BUSY = 1e6  # the cost of a node with no sample yet and requests in flight


def latency_cost(ewma: float, inflight: int) -> float:
    """A node's score for two choices (lower wins)."""
    if ewma == 0.0 and inflight:
        return UNMEASURED_BUSY + inflight
    return ewma * (inflight + 1)


def failure_sample(slowest: float) -> float:
    """The sample a failed attempt counts as, given the slowest cost of the others now."""
    return max(FAILURE_PENALTY, 2.0 * slowest)


class PeakEwma:
    """One (model, node)'s cost of time to first byte, in seconds."""

    __slots__ = ("cost", "stamp")

    def __init__(self) -> None:
        self.cost: float | None = None  # None: never measured
        self.stamp = 0.0

    def observe(self, sample: float, now: float) -> None:
        if self.cost is None or sample > self._decayed(now):
            self.cost = sample
        else:
            weight = math.exp(-max(0.0, now - self.stamp) / DECAY)
            self.cost = self.cost * weight + sample * (1 - weight)
        self.stamp = now

    def _decayed(self, now: float) -> float:
        if self.cost is None:
            return 0.0
        return self.cost * math.exp(-max(0.0, now - self.stamp) / DECAY)

    def value(self, now: float) -> float:
        """The cost now (fading towards 0 since the last sample); 0 when never measured."""
        return self._decayed(now)


def _draw(indexes: Sequence[int], weights: Sequence[int], rng: random.Random) -> int:
    total = sum(weights[i] for i in indexes)
    point = rng.random() * total
    for i in indexes:
        point -= weights[i]
        if point < 0:
            return i
    return indexes[-1]


def two_choices(
    eligible: Sequence[bool],
    weights: Sequence[int],
    score: Callable[[int], float],
    rng: random.Random,
) -> int | None:
    """Index of the better of two weighted draws among the eligible, or None."""
    indexes = [i for i, ok in enumerate(eligible) if ok]
    if not indexes:
        return None
    if len(indexes) == 1:
        return indexes[0]
    first = _draw(indexes, weights, rng)
    second = _draw([i for i in indexes if i != first], weights, rng)
    return first if score(first) <= score(second) else second
