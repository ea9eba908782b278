"""Live reload of routes.yaml: on file change (polled), SIGHUP, and POST /admin/reload.

The new file is validated first; an invalid one leaves the running config untouched and
its problems are logged (and returned to /admin/reload). A valid one is installed in
one step by `RouteTable.install`, which keeps unchanged nodes' state and connections;
then `on_installed` runs (billing applies the new `keys:`) before the reload is reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from router import heap
from router.config.loader import load_config
from router.config.model import Config
from router.errors import ConfigError
from router.observability.observer import Observer
from router.proxy.table import RouteTable
from router.tasks import cancel_and_wait


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ConfigReloader:
    """Owns the path of routes.yaml and swaps in new versions of it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        table: RouteTable,
        observer: Observer,
        on_installed: Callable[[Config], Awaitable[None]],
        poll_interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.table = table
        self.observer = observer
        self.on_installed = on_installed
        self.poll_interval = poll_interval
        self._seen = _fingerprint(self.path)
        self._digest = self._hash()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _hash(self) -> bytes | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return None

    async def reload(self) -> list[str]:
        """Load, validate and install the file; the problems when it is invalid."""
        async with self._lock:
            self._seen = _fingerprint(self.path)
            try:
                config = load_config(self.path)
            except ConfigError as exc:
                problems = exc.render().splitlines()
                self.observer.config_reloaded(False, str(self.path), problems)
                return problems
            old = self.table.config.server
            new = config.server
            if (old.host, old.port, old.header_timeout) != (
                new.host,
                new.port,
                new.header_timeout,
            ):
                self.observer.log.warning(
                    "config_needs_restart",
                    detail="server.host/port/header_timeout change on restart only",
                )
            self.table.install(config)
            self._digest = self._hash()
            await self.on_installed(config)
            heap.settle()  # the new config frozen, the old one freed (router.heap)
            self.observer.config_reloaded(True, str(self.path))
            return []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            seen = _fingerprint(self.path)
            if seen is None or seen == self._seen:
                continue
            # Touching the file without changing it is not a reload.
            if self._hash() == self._digest:
                self._seen = seen
                continue
            await self.reload()
