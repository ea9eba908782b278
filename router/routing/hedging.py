"""When to hedge: the delay after which a second node is asked (pure, no clock).

A model with `hedge: {after: <seconds>}` waits that long. With `after: p95` the delay is
the p95 of the model's last `SAMPLES` times to first token (the winners', measured from
each one's own request), recomputed every `RECOMPUTE_EVERY` samples so the hot path
never sorts; until `WARMUP` samples have arrived it is `UNMEASURED` seconds. A loser that
was outraced adds the time it had been waiting, a lower bound of its own, so a node that
is slow and always outraced still moves the percentile.
"""

from __future__ import annotations

from router.config.hedging import Hedge

SAMPLES = 256
RECOMPUTE_EVERY = 16
WARMUP = 20
UNMEASURED = 1.0  # seconds: the adaptive delay before enough samples arrived
PERCENTILE = 0.95


class HedgeDelay:
    """One model's hedging delay, fed with its times to first token."""

    __slots__ = ("_adaptive", "_count", "_delay", "_ring", "most")

    def __init__(self, hedge: Hedge) -> None:
        self.most = hedge.max
        self._adaptive = hedge.adaptive
        self._delay = UNMEASURED if hedge.after is None else hedge.after
        self._ring: list[float] = []
        self._count = 0

    @property
    def after(self) -> float:
        """Seconds without a first token before the next hedge starts."""
        return self._delay

    def observe(self, seconds: float) -> None:
        if not self._adaptive:
            return
        if len(self._ring) < SAMPLES:
            self._ring.append(seconds)
        else:
            self._ring[self._count % SAMPLES] = seconds
        self._count += 1
        if self._count >= WARMUP and self._count % RECOMPUTE_EVERY == 0:
            ordered = sorted(self._ring)
            self._delay = ordered[min(len(ordered) - 1, int(PERCENTILE * len(ordered)))]
