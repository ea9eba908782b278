"""Keep the garbage collector off what lives as long as the process.

A router holds some 70,000 container objects from its start to its end: modules,
classes, the dialects' tables, the loaded config. CPython's oldest-generation
collection walks every one of them, and on this project's 2-core VM that took 30-50 ms,
stopping every request and stream in the process; under load it ran every few seconds,
so the router's p99 latency was 3x the bare aiohttp pass-through's and a stream's chunk
delay p99 4x (docs/benchmarks.md). `gc.freeze()` moves the objects alive at that point
into a permanent generation no collection walks; objects made per request are collected
as before.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze what survives; the number of objects now frozen.

    Run once the app is built (and again after a config reload, so the new config is
    frozen and the old one, when unreachable, is freed: unfreezing first lets that
    collection see it). The collection takes one full pass (tens of ms), so it runs
    only at those moments, never per request."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
