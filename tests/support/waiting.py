"""Waiting for something another process does, without a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually_blocking(check: Callable[[], T], *, limit: float = 10.0, every: float = 0.05) -> T:
    """`eventually` for sync tests (a Playwright page, an SDK client): it sleeps the thread."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(every)


async def eventually(check: Callable[[], T], *, limit: float = 10.0, every: float = 0.02) -> T:
    """Poll `check` (a quick call) until it returns something truthy (then return it), or for
    `limit` seconds (then return its last, falsy, result for the test to assert on)."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(every)
