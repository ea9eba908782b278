"""Run an aiohttp app on loopback until SIGTERM, with a listen backlog fit for 8,000 streams."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve(app: web.Application, port: int) -> None:
    """Serve `app` on 127.0.0.1:port until SIGTERM or SIGINT."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()
