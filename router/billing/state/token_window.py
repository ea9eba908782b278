"""Tokens per minute: the pure rules both state stores follow (the Lua mirrors them).

How this works: a key's tokens are counted per whole second of admission, and the window
is the current second and the 59 before it. Admission adds the request's estimate
(`dialects.estimate.token_estimate`) to the current second; settling replaces it with
the tokens the node reported (`settled_tokens`), in the second the request was admitted,
so a long stream counts where it started. A request is refused while the window's total
plus its estimate is above `tpm`, and told to wait until enough of the oldest seconds
have left the window; a request larger than the whole limit still passes when the
window is empty (else it never could).
"""

from __future__ import annotations

import math

from router.billing.state.outcomes import Outcome
from router.dialects.usage import Usage

WINDOW_SECONDS = 60
# Seconds after the current one that still count: replicas admit concurrently, and one
# whose admission Redis runs first may have stamped a later second than the next one's.
AHEAD = 2
# The most one request counts: far above any limit, and exact in Lua's doubles and in
# Redis's integers (a max_tokens of 10^20 is not a number HINCRBY takes).
MAX_COUNTED = 10**12


def window_wait(seconds: float) -> float:
    """A wait for a one-minute window (rpm or tpm), held to 0..60 s: replicas stamp
    admissions with their own clocks, so the oldest may lie a little in the future of
    the router asking, and no window needs longer than its own length to clear."""
    return min(max(seconds, 0.0), float(WINDOW_SECONDS))


def counted(tokens: int) -> int:
    """A request's tokens as the window counts them (held to 0..MAX_COUNTED)."""
    return min(max(tokens, 0), MAX_COUNTED)


def settled_tokens(usage: Usage | None, outcome: Outcome) -> int | None:
    """The tokens a settled request counts: the reported usage; none when it was refused
    or failed without usage; None (keep the estimate) when it ended without usage."""
    if usage is not None:
        return counted(usage.total)
    return 0 if outcome is Outcome.FAILED else None


class TokenWindow:
    """One key's tokens per second of the last minute."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds: dict[int, int] = {}

    def _prune(self, second: int) -> None:
        oldest = second - WINDOW_SECONDS + 1
        for stale in [s for s in self.seconds if s < oldest]:
            del self.seconds[stale]

    def wait(self, now: float, need: int, limit: int) -> float | None:
        """None when `need` more tokens fit under `limit` now, else seconds to wait."""
        second = math.floor(now)
        self._prune(second)
        # The window's seconds and AHEAD more (as in the Lua, which reads just these):
        # after the clock stepped back further, the later ones wait.
        window = sorted(s for s in self.seconds if s <= second + AHEAD)
        used = sum(self.seconds[s] for s in window)
        if used == 0 or used + need <= limit:
            return None
        freed = 0
        for start in window:
            freed += self.seconds[start]
            if used - freed == 0 or used - freed + need <= limit:
                return window_wait(start + WINDOW_SECONDS - now)
        return WINDOW_SECONDS  # unreachable: the loop frees everything

    def add(self, second: int, tokens: int) -> None:
        """Count `tokens` (may be negative: a settlement's correction) in `second`."""
        self.seconds[second] = self.seconds.get(second, 0) + tokens
