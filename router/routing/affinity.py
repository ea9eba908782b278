"""Cache affinity: a consistent-hash ring with bounded loads (Mirrokni et al., 2018).

Pure. Each backend of a tier owns `POINTS_PER_WEIGHT x weight` points on a 64-bit ring,
built once per config. A request's affinity key hashes to a point; its home is the first
node clockwise. A node takes the key only while its in-flight count stays within
`ceil((1 + epsilon) x (tier in-flight + 1) / eligible nodes)`; otherwise the key walks on
to the next node on the ring, so one hot conversation cannot overload its node, and a
node that is out (ejected, drained, full) passes its keys on the same way. Adding or
removing a node moves only the keys of its own points.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Sequence
from enum import StrEnum

POINTS_PER_WEIGHT = 64


class AffinityOutcome(StrEnum):
    HIT = "hit"  # the key's home node took it
    MOVED = "moved"  # another node took it: its home was out or above its bounded load
    NONE = "none"  # the request carried no key


def ring_point(text: str) -> int:
    # A lone surrogate (raw header bytes, as aiohttp keeps them) hashes the same on
    # every replica instead of raising.
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Ring:
    """The points of one tier's nodes."""

    __slots__ = ("owners", "points")

    def __init__(self, nodes: Sequence[str], weights: Sequence[int]) -> None:
        placed = sorted(
            (ring_point(f"{node}#{i}"), index)
            for index, (node, weight) in enumerate(zip(nodes, weights, strict=True))
            for i in range(POINTS_PER_WEIGHT * weight)
        )
        self.points = [point for point, _ in placed]
        self.owners = [index for _, index in placed]

    def walk(self, key: str) -> list[int]:
        """Node indexes in ring order from the key's point, each once (home first)."""
        start = bisect.bisect(self.points, ring_point(key))
        seen: list[int] = []
        count = len(self.points)
        distinct = len(set(self.owners))
        for step in range(count):
            owner = self.owners[(start + step) % count]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == distinct:
                    break
        return seen

    def choose(
        self,
        key: str,
        eligible: Sequence[bool],
        load: Callable[[int], int],
        epsilon: float,
    ) -> tuple[int | None, AffinityOutcome]:
        """The node index for `key` (None when no node is eligible) and the outcome."""
        usable = [i for i, ok in enumerate(eligible) if ok]
        if not usable:
            return None, AffinityOutcome.MOVED
        total = sum(load(i) for i in usable)
        bound = math.ceil((1 + epsilon) * (total + 1) / len(usable))
        order = self.walk(key)
        for index in order:
            if eligible[index] and load(index) + 1 <= bound:
                return index, AffinityOutcome.HIT if index == order[0] else AffinityOutcome.MOVED
        return None, AffinityOutcome.MOVED  # unreachable: the least loaded is within bound
