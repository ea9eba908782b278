"""`router serve`: load the config, run the app on uvloop, reload on SIGHUP, stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys

from aiohttp import web

from router import heap
from router.config.loader import load_config
from router.config.model import Config
from router.config.ports import listen_problem
from router.errors import ConfigError, StartupError
from router.observability.logs import configure_logging, get_logger
from router.server.app import PARTS, Options, create_app
from router.server.protocol_errors import RouterRunner
from router.server.workers import MEMORY_REFUSED, supervise


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def run_server(
    config: Config, host: str, port: int, options: Options, *, reuse_port: bool = False
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (see router.web.lifecycle)."""
    log = get_logger("router")
    app = create_app(config, options)
    parts = app[PARTS]
    server = config.server
    runner = RouterRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=1.0,
        # aiohttp's keep-alive timer runs from a connection's start and from the end of
        # each answer until the next request head is complete, and bytes arriving do not
        # extend it: it is the header-read timeout (a slow head is closed, no byte sent).
        keepalive_timeout=server.header_timeout,
    )
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, backlog=4096, reuse_address=True, reuse_port=reuse_port or None
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(listen_problem(exc, host, port)) from None
    frozen = heap.settle()  # before the first request: see router.server.heap
    log.info(
        "started", host=host, port=port, config=config.source, pid=_pid(), frozen_objects=frozen
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parts.reloader is not None:
        reloader = parts.reloader
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reloader.reload()))
    try:
        await stop.wait()
        # Current settings (a reload may have changed the delays).
        server = parts.table.config.server
        parts.lifecycle.begin_stopping()
        log.info("stopping", delay=server.shutdown_delay, grace=server.shutdown_grace)
        await asyncio.sleep(server.shutdown_delay)  # still serving: the LB sees /readyz 503
        # New connections are refused from here on. Connections a load balancer keeps
        # alive may still bring a request each: every response since SIGTERM says
        # `Connection: close` (see app.error_middleware), so none brings two. Closing
        # them from this side races with the balancer sending on them, so that happens
        # only at the very end (runner.cleanup); a request lost in that race was never
        # read, and the balancer retries it (deploy/nginx/router.conf).
        await site.stop()
        if not await parts.lifecycle.wait_idle(server.shutdown_grace):
            ended = parts.streams.end_all()
            log.warning("shutdown_grace_expired", ended_streams=ended)
            await parts.lifecycle.wait_idle(1.0)
    finally:
        await runner.cleanup()
        parts.observer.flush()  # what the last turn still queued goes before "stopped"
        log.info("stopped")


def _check_listen(host: str, port: int, *, reuse_port: bool) -> None:
    """Raise StartupError when `host:port` cannot be listened on: before anything else
    starts, so the message is the only line (no log of nodes made ready), and before
    forking workers, which would fail one after the other for the same reason."""
    try:
        with socket.create_server((host, port), family=_family(host), reuse_port=reuse_port):
            pass
    except OSError as exc:
        raise StartupError(listen_problem(exc, host, port)) from None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _pid() -> int:
    import os

    return os.getpid()


def serve_command(
    config_path: str,
    host: str | None,
    port: int | None,
    *,
    log_level: str = "info",
    log_format: str = "auto",
    metrics: bool = True,
    access_log: bool = True,
    workers: int = 1,
    metrics_dir: str | None = None,
) -> int:
    """Entry point of `router serve`; `metrics_dir` is the multiprocess metrics folder,
    which prometheus-client must have been given before it was imported (router.cli.main)."""
    output = configure_logging(log_level, log_format)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"{exc.headline()}; the router cannot start:", file=sys.stderr)
        print(exc.render(), file=sys.stderr)
        return 1
    if workers > 1 and config.state.backend == "memory":
        print(f"{config_path}: {MEMORY_REFUSED.format(n=workers)}", file=sys.stderr)
        return 2
    _use_uvloop()
    options = Options(
        config_path=config_path,
        metrics=metrics,
        access_log=access_log,
        log_output=output,
        metrics_dir=metrics_dir,
    )
    address = (host or config.server.host, port or config.server.port)
    try:
        _check_listen(*address, reuse_port=workers > 1)
        if workers == 1:
            asyncio.run(run_server(config, *address, options))
            return 0
    except StartupError as exc:
        print(f"router serve: {exc}", file=sys.stderr)
        return 1

    def run_worker() -> None:
        asyncio.run(run_server(config, *address, options, reuse_port=True))

    return supervise(workers, run_worker, metrics_dir)
