"""`router serve`: load the config, run the app on uvloop, stop cleanly on signals."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from router.app import create_app
from router.config import Config
from router.config_loader import load_config
from router.errors import ConfigError


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def run_server(config: Config, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    app = create_app(config)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    print(f"router listening on http://{host}:{port} ({config.source})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_command(config_path: str, host: str | None, port: int | None) -> int:
    """Entry point of `router serve`."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"{config_path}: cannot start, {len(exc.problems)} problem(s):", file=sys.stderr)
        print(exc.render(), file=sys.stderr)
        return 1
    _use_uvloop()
    asyncio.run(run_server(config, host or config.server.host, port or config.server.port))
    return 0
