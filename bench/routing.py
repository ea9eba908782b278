"""Section `routing`: time to first token with one slow node, hedging's cost, affinity.

Three real mock nodes: `fast1`, `fast2`, and `slow`, whose first token comes after
`routing_slow_delay` seconds for 30% of its requests (after an immediate role chunk,
so only a router that reads on to the first token sees it as slow). The same requests
(streams, `routing_concurrency` at a time) go to three models of one router:
`weighted`, `latency`, `latency` + `hedge: {after: 0.8}` and `latency` +
`hedge: {after: p95}`. Time to first token is
measured at the client, to the first chunk with content (router.dialects.first_token).
The reference is the fast nodes' own p99 in the same run and at the same concurrency: a
model that has only the two fast nodes. Extra upstream requests are the nodes' request counts
(their /_mock/stats) minus the client's.

Affinity: `affinity_sessions` sessions (X-Session-ID) send `affinity_rounds` requests
each, shuffled, to a model with `affinity:` over the same nodes; the hit rate is the
share of requests that landed on their session's usual node, the spread is the
busiest node's request count over the mean.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.procs import Server, running
from bench.report import MET, MISSED, REPORTED, Row
from bench.runner import Run
from bench.stats import percentile
from bench.system import free_port, pinned
from bench.targets import ROUTER
from router.dialects.first_token import FirstTokenScanner
from router.dialects.names import DialectName
from router.dialects.registry import codec

NODES = ("fast1", "fast2", "slow")
FAST_ONLY = "fast nodes only"
MODELS = {
    FAST_ONLY: "m-fast",
    "weighted": "m-weighted",
    "latency": "m-latency",
    "latency + hedge 0.8 s": "m-hedge",
    "latency + hedge p95": "m-hedge-p95",
}
SLOW_RATE = 0.3
P99_RATIO = 1.5  # target: hedged p99 within 1.5x of the fast nodes' own p99
EXTRA_SHARE = 0.10  # target: at most 10% extra upstream requests

# No load balancer to tell about a stop: a router started here exits at once.
CONFIG = """\
version: 1
server:
  host: 127.0.0.1
  port: {port}
  node_headers: [X-Mock-Node]
  shutdown_delay: 0
  shutdown_grace: 1
defaults:
  health: false
  ejection: {{consecutive_failures: 1000, max_percent: 0}}
nodes:
  fast1: {{url: "{fast1}", max_inflight: 10000}}
  fast2: {{url: "{fast2}", max_inflight: 10000}}
  slow: {{url: "{slow}", max_inflight: 10000}}
models:
  m-fast: {{backends: [{{node: fast1}}, {{node: fast2}}]}}
  m-weighted: {{backends: [{{node: fast1}}, {{node: fast2}}, {{node: slow}}]}}
  m-latency:
    strategy: latency
    backends: [{{node: fast1}}, {{node: fast2}}, {{node: slow}}]
  m-hedge:
    strategy: latency
    hedge: {{after: 0.8}}
    backends: [{{node: fast1}}, {{node: fast2}}, {{node: slow}}]
  m-hedge-p95:
    strategy: latency
    hedge: {{after: p95}}
    backends: [{{node: fast1}}, {{node: fast2}}, {{node: slow}}]
  m-sticky:
    affinity: {{by: "header:X-Session-ID"}}
    backends: [{{node: fast1}}, {{node: fast2}}, {{node: slow}}]
"""

OPENAI_ANSWERS = codec(DialectName.OPENAI).answers  # what the clients read


@dataclass(slots=True)
class Sample:
    ttft_ms: float
    node: str


@dataclass(slots=True)
class Load:
    samples: list[Sample] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


def run_section(run: Run) -> None:
    settings = run.settings
    print("bench: routing (time to first token, hedging, affinity)", flush=True)
    with contextlib.ExitStack() as stack:
        nodes = {name: stack.enter_context(_mock(run, name)) for name in NODES}
        router = stack.enter_context(_router(run, nodes))
        results = asyncio.run(_measure(run, router, nodes))
    raw = {
        mode: {
            "p50_ms": percentile([s.ttft_ms for s in load.samples], 50),
            "p99_ms": percentile([s.ttft_ms for s in load.samples], 99),
            "p999_ms": percentile([s.ttft_ms for s in load.samples], 99.9),
            "max_ms": max((s.ttft_ms for s in load.samples), default=0.0),
            "by_node": collections.Counter(s.node for s in load.samples),
            "errors": dict(load.errors),
        }
        for mode, load in results.loads.items()
    }
    run.report.raw["routing"] = {
        "requests": settings.routing_requests,
        "slow_delay_s": settings.routing_slow_delay,
        "modes": raw,
        "extra_upstream": results.extra,
        "affinity": results.affinity,
    }
    _rows(run, results)


@dataclass(slots=True)
class Results:
    loads: dict[str, Load]
    extra: dict[str, float]  # extra upstream requests per client request, per mode
    affinity: dict[str, float]


def _rows(run: Run, results: Results) -> None:
    fast_p99 = percentile([s.ttft_ms for s in results.loads[FAST_ONLY].samples], 99)
    for mode, load in results.loads.items():
        ttft = [s.ttft_ms for s in load.samples]
        where = "2 fast nodes" if mode == FAST_ONLY else "1 of 3 nodes slow"
        row = run.report.add(Row("routing", f"TTFT p50/p99/p99.9/max ms, {mode}, {where}"))
        p99 = percentile(ttft, 99)
        row.values[ROUTER] = p99
        errors = sum(load.errors.values())
        figures = [percentile(ttft, 50), p99, percentile(ttft, 99.9), max(ttft, default=0.0)]
        row.cells[ROUTER] = " / ".join(f"{x:.0f}" if x >= 100 else f"{x:.1f}" for x in figures)
        if errors:
            row.cells[ROUTER] += f" ({errors} errors)"
        if mode.startswith("latency + hedge"):
            row.target = f"p99 <= {P99_RATIO}x fast nodes' p99 ({fast_p99:.1f} ms)"
            ratio = p99 / fast_p99 if fast_p99 else float("inf")
            row.status = MET if ratio <= P99_RATIO and not errors else MISSED
            row.why = f"{ratio:.2f}x"
        else:
            row.target, row.status = "reported", REPORTED
        if mode.startswith("latency + hedge"):
            extra = results.extra[mode]
            row = run.report.add(Row("routing", f"extra upstream requests, {mode}"))
            row.values[ROUTER] = extra
            row.cells[ROUTER] = f"{extra:.1%}"
            row.target = f"<= {EXTRA_SHARE:.0%}"
            row.status = MET if extra <= EXTRA_SHARE else MISSED
            row.why = f"{extra:.1%}"
    affinity = results.affinity
    row = run.report.add(Row("routing", "affinity hit rate / load max:mean"))
    row.cells[ROUTER] = f"{affinity['hit_rate']:.1%} / {affinity['spread']:.2f}"
    row.target, row.status = "reported", REPORTED


@contextlib.contextmanager
def _mock(run: Run, name: str) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "router", "mock-node", "--port", str(port), "--name", name]
    cmd += ["--host", "127.0.0.1", "--seed", str(len(name))]
    if name == "slow":
        cmd += ["--ttft-delay", str(run.settings.routing_slow_delay)]
        cmd += ["--ttft-rate", str(SLOW_RATE)]
    with running(
        f"mock-{name}",
        pinned(cmd, run.load_core),
        port=port,
        workdir=run.env.workdir,
        cwd=run.env.repo,
    ) as server:
        yield server


@contextlib.contextmanager
def _router(run: Run, nodes: dict[str, Server]) -> Iterator[Server]:
    port = free_port()
    config = run.env.workdir / f"routing-{port}.yaml"
    config.write_text(CONFIG.format(port=port, **{n: s.url for n, s in nodes.items()}))
    cmd = [sys.executable, "-m", "router", "serve", "--config", str(config), "--no-access-log"]
    with running(
        "router-routing",
        pinned(cmd, run.env.proxy_core),
        port=port,
        workdir=run.env.workdir,
        ready_path="/readyz",
        timeout=30.0,
        cwd=run.env.repo,
    ) as server:
        yield server


async def _measure(run: Run, router: Server, nodes: dict[str, Server]) -> Results:
    settings = run.settings
    connector = aiohttp.TCPConnector(limit=settings.routing_concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loads: dict[str, Load] = {}
        extra: dict[str, float] = {}
        for mode, model in MODELS.items():
            before = await _upstream_requests(session, nodes)
            bodies = [(model, None)] * settings.routing_requests
            loads[mode] = await _load(session, router.url, bodies, settings.routing_concurrency)
            after = await _upstream_requests(session, nodes)
            extra[mode] = (after - before) / settings.routing_requests - 1
        await _set_faults(session, nodes["slow"], {"reset": True})
        affinity = await _affinity(session, router.url, run)
    return Results(loads, extra, affinity)


async def _affinity(session: aiohttp.ClientSession, url: str, run: Run) -> dict[str, float]:
    settings = run.settings
    sessions = [f"s{i}" for i in range(settings.affinity_sessions)]
    order = [("m-sticky", s) for s in sessions for _ in range(settings.affinity_rounds)]
    random.Random(5).shuffle(order)
    load = await _load(session, url, order, settings.routing_concurrency, keep_sessions=True)
    by_session: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for (_, sid), sample in zip(order, load.samples, strict=True):
        by_session[sid][sample.node] += 1
    usual = sum(counts.most_common(1)[0][1] for counts in by_session.values())
    per_node = collections.Counter(s.node for s in load.samples)
    mean = len(load.samples) / len(NODES)
    return {
        "hit_rate": usual / max(1, len(load.samples)),
        "spread": max(per_node.values(), default=0) / mean if mean else 0.0,
        "errors": float(sum(load.errors.values())),
    }


async def _load(
    session: aiohttp.ClientSession,
    url: str,
    order: Sequence[tuple[str, str | None]],
    concurrency: int,
    *,
    keep_sessions: bool = False,
) -> Load:
    """Send every (model, session) request of `order`, `concurrency` at a time; samples
    come back in `order`'s order (failed requests as NaN samples)."""
    load = Load()
    samples: list[Sample | None] = [None] * len(order)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, model: str, sid: str | None) -> None:
        async with gate:
            try:
                samples[i] = await _stream(session, url, model, sid)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                load.errors[type(exc).__name__] += 1

    await asyncio.gather(*(one(i, m, s) for i, (m, s) in enumerate(order)))
    load.samples = [s if s is not None else Sample(float("nan"), "none") for s in samples]
    if not keep_sessions:
        load.samples = [s for s in load.samples if s.node != "none"]
    return load


async def _stream(session: aiohttp.ClientSession, url: str, model: str, sid: str | None) -> Sample:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"X-Session-ID": sid} if sid else {}
    started = time.perf_counter()
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as answer:
        if answer.status != 200:
            raise ValueError(f"status {answer.status}")
        scanner = FirstTokenScanner("text/event-stream", OPENAI_ANSWERS)
        first: float | None = None
        async for chunk in answer.content.iter_any():
            if first is None and scanner.feed(chunk):
                first = time.perf_counter()
        if first is None:
            raise ValueError("no content")
        return Sample((first - started) * 1000, answer.headers.get("X-Mock-Node", "?"))


async def _upstream_requests(session: aiohttp.ClientSession, nodes: dict[str, Server]) -> int:
    total = 0
    for server in nodes.values():
        async with session.get(server.url + "/_mock/stats") as answer:
            total += int((await answer.json())["requests"])
    return total


async def _set_faults(session: aiohttp.ClientSession, node: Server, faults: object) -> None:
    async with session.post(node.url + "/_mock/faults", json=faults) as answer:
        answer.raise_for_status()
