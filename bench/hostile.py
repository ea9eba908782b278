"""Section `hostile`: what one node's endless line costs everyone else (issue 27 item 3).

A real mock node sends, in every stream, one content event of `hostile_event_mb` MB
without a newline (its `huge_event` fault); the client asks for no usage, so the router
asks the node for it and filters that chunk out: the path whose buffer once grew with
the line. `hostile_streams` such streams run at once while another client asks
/healthz every 20 ms. Reported, not judged (timings are measured, never asserted): the
/healthz latency (p50 and max) without and with the streams, how long the streams took,
and the router's peak RSS growth (VmHWM) over the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.procs import Server, running
from bench.report import REPORTED, Row
from bench.runner import Run
from bench.stats import percentile
from bench.system import free_port, pinned
from bench.targets import ROUTER

CONFIG = """\
version: 1
server: {{host: 127.0.0.1, port: {port}}}
defaults: {{health: false}}
nodes:
  big: {{url: "{node}"}}
models:
  m: {{backends: [{{node: big}}]}}
"""
PROBE_EVERY = 0.02  # seconds between /healthz requests


def run_section(run: Run) -> None:
    """Start a node and a router, measure, add the rows."""
    size = run.settings.hostile_event_mb * 1024 * 1024
    with _node(run) as node, _router(run, node) as router:
        print("bench: hostile (an endless line)", flush=True)
        figures = asyncio.run(_measure(router, node, size, run.settings.hostile_streams))
    streams = run.settings.hostile_streams
    mb = run.settings.hostile_event_mb
    for figure, value, unit in (
        ("/healthz p50 alone, ms", figures["alone_p50"], "ms"),
        (f"/healthz p50 during {streams} streams of a {mb} MB line, ms", figures["p50"], "ms"),
        (f"/healthz max during {streams} streams of a {mb} MB line, ms", figures["max"], "ms"),
        ("streams' duration, s", figures["seconds"], "s"),
        ("router peak RSS growth, MiB", figures["rss_mib"], "MiB"),
    ):
        row = run.report.add(Row("hostile", figure))
        row.cells[ROUTER] = f"{value:.3f}" if unit != "MiB" else f"{value:.1f}"
        row.values[ROUTER] = value
        row.target, row.status = "reported", REPORTED


@contextlib.contextmanager
def _node(run: Run) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "router", "mock-node", "--port", str(port), "--name", "big"]
    with running(
        "mock-big", pinned(cmd, run.load_core), port=port, workdir=run.env.workdir, cwd=run.env.repo
    ) as server:
        yield server


@contextlib.contextmanager
def _router(run: Run, node: Server) -> Iterator[Server]:
    port = free_port()
    config = run.env.workdir / f"hostile-{port}.yaml"
    config.write_text(CONFIG.format(port=port, node=node.url))
    cmd = [sys.executable, "-m", "router", "serve", "--config", str(config), "--no-access-log"]
    with running(
        "router-hostile",
        pinned(cmd, run.env.proxy_core),
        port=port,
        workdir=run.env.workdir,
        ready_path="/readyz",
        timeout=30.0,
        cwd=run.env.repo,
    ) as server:
        yield server


async def _measure(router: Server, node: Server, size: int, streams: int) -> dict[str, float]:
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        alone = await _probe_for(session, router.url, 2.0)
        async with session.post(node.url + "/_mock/faults", json={"huge_event": size}) as reply:
            reply.raise_for_status()
        before = _peak_rss(router.pid)
        started = time.monotonic()
        done = asyncio.Event()
        probing = asyncio.create_task(_probe_until(session, router.url, done))
        await asyncio.gather(*(_stream(session, router.url) for _ in range(streams)))
        seconds = time.monotonic() - started
        done.set()
        during = await probing
        grown = _peak_rss(router.pid) - before
    return {
        "alone_p50": percentile(alone, 50),
        "p50": percentile(during, 50),
        "max": max(during, default=float("nan")),
        "seconds": seconds,
        "rss_mib": grown / 2**20,
    }


async def _stream(session: aiohttp.ClientSession, url: str) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with session.post(url + "/v1/chat/completions", json=body) as reply:
        async for _ in reply.content.iter_chunked(1 << 20):
            pass


async def _probe_for(session: aiohttp.ClientSession, url: str, seconds: float) -> list[float]:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, done.set)
    return await _probe_until(session, url, done)


async def _probe_until(
    session: aiohttp.ClientSession, url: str, done: asyncio.Event
) -> list[float]:
    """/healthz latencies (ms), one request every PROBE_EVERY seconds until `done`."""
    samples: list[float] = []
    while not done.is_set():
        sent = time.perf_counter()
        async with session.get(url + "/healthz") as reply:
            await reply.read()
        samples.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(PROBE_EVERY)
    return samples


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
