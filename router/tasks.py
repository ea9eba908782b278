"""Stopping background tasks: the one way every module ends the tasks it started."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel every task and wait until each has ended (None entries are skipped)."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class LoopRef:
    """The event loop a long-lived object runs on, looked up once instead of per call.

    On Python 3.11 every `asyncio.get_running_loop()` (and `asyncio.current_task()`
    without a loop) costs a getpid() system call: it checks that the loop was not
    inherited across a fork. The request path asked about 15 times per request. Only one
    loop can run in a thread, so a cached loop that is still running is the current one.
    """

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> asyncio.AbstractEventLoop:
        """The running event loop (call from a coroutine or callback on it)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop
