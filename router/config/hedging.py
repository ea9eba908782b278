"""`hedge:` of a model: when a second node is asked for the same answer.

`hedge: {after: 0.8, max: 1}` sends the request to another usable node when the first
has produced no first token after `after` seconds; `after: p95` follows the model's
recent p95 time to first token (router.routing.hedging). Read once at config load.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.config.checker import Section

ADAPTIVE = "p95"


@dataclass(frozen=True, slots=True)
class Hedge:
    after: float | None  # seconds; None: the model's recent p95 time to first token
    max: int = 1  # hedges per request at most

    @property
    def adaptive(self) -> bool:
        return self.after is None


def read_hedge(section: Section) -> Hedge | None:
    """`hedge: {after: <seconds> | p95, max: 1}`, or None when absent."""
    if not section.raw:
        section.close()
        return None
    raw_after = section.raw_value("after")
    most = section.integer("max", 1, minimum=1)
    section.close()
    if raw_after == ADAPTIVE:
        return Hedge(None, most)
    if isinstance(raw_after, int | float) and not isinstance(raw_after, bool) and raw_after > 0:
        return Hedge(float(raw_after), most)
    shown = "missing" if raw_after is None else repr(raw_after)[:40]
    section.checker.report(
        section.at("after"), f"must be seconds greater than 0 or {ADAPTIVE!r}, got {shown}"
    )
    return None
