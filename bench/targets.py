"""What gets benchmarked: the upstream directly, the bare pass-through, nginx, and the router.

Add a column by appending a `Target` to `default_targets()` (e.g. the router with
`--workers 2`, or with metrics off); the first two targets are the references.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path

from bench import nginx
from bench.procs import Server, running
from bench.system import find_program, free_port, pinned
from bench.wrk import BENCH_KEY

DIRECT = "direct"
BARE = "bare"
NGINX = "nginx"
ROUTER = "router"

# No load balancer to tell about a stop: a router started here exits at once.
ROUTER_CONFIG = """\
version: 1
server: {{host: 127.0.0.1, port: {port}, shutdown_delay: 0, shutdown_grace: 1}}
defaults:
  timeouts: {{connect: 2, first_byte: 60, idle: 120, total: 900}}
  retries: 2
nodes:  # max_inflight (default 512 per node) raised so 8,000 streams measure capacity
  node62: {{url: "{upstream}", max_inflight: 10000{node_extra}}}
  node63: {{url: "{upstream}", max_inflight: 10000{node_extra}}}
models:
  gemini-2.5-flash:
    backends:
      - {{node: node62, weight: 3}}
      - {{node: node63, weight: 1}}
"""


@dataclass(frozen=True, slots=True)
class Env:
    """Where and how targets run: a private temp dir, and the core proxies are pinned to."""

    workdir: Path
    proxy_core: int | None
    repo: Path


Starter = Callable[[Env, Server], ContextManager[Server]]


@dataclass(frozen=True, slots=True)
class Target:
    """One column of the table: a name and how to start it in front of an upstream."""

    name: str
    start: Starter
    requires: tuple[str, ...] = ()  # system programs it needs
    family: str = "python"  # "upstream" (the reference), "nginx", or "python" (a proxy in Python)
    variant: bool = False  # a router variant, measured only in paired throughput runs


def main_targets(targets: list[Target]) -> list[Target]:
    """The references and the router: the targets every section measures."""
    return [t for t in targets if not t.variant]


def target_named(targets: list[Target], name: str) -> Target:
    return next(t for t in targets if t.name == name)


@contextlib.contextmanager
def _direct(env: Env, upstream: Server) -> Iterator[Server]:
    yield upstream


def _bare(env: Env, upstream: Server) -> ContextManager[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.passthrough", "--port", str(port)]
    cmd += ["--upstream", upstream.url]
    return running(BARE, pinned(cmd, env.proxy_core), port=port, workdir=env.workdir, cwd=env.repo)


def _nginx(env: Env, upstream: Server) -> ContextManager[Server]:
    port = free_port()
    upstream_port = int(upstream.url.rsplit(":", 1)[1])
    conf = nginx.proxy_conf(env.workdir / f"nginx-proxy-{port}", port, upstream_port)
    return running(NGINX, nginx.command(conf, env.proxy_core), port=port, workdir=env.workdir)


# The metered variants: every request is authorised, counted and charged, with the
# state on Redis or in memory (wrk sends this key to every target; the others ignore it).
METERED_KEY = """\
keys:
  - {{name: bench, key: "{key}", rpm: 100000000, credits: 1000000000}}
"""
REDIS_STATE = """\
state:
  backend: redis
  redis_url: "redis://127.0.0.1:{redis_port}/0"
  prefix: "bench{port}:"
"""
MEMORY_STATE = """\
state:
  backend: memory  # the usage ledger goes beside the config, in the bench's workdir
"""
PRICED = """    pricing: {pre_deduct: 5, prompt_per_1k: 0.3, completion_per_1k: 2.5}
"""
# The traced variants export every span (or one trace in a hundred) to a local sink.
TRACED = """\
observability:
  tracing: {{endpoint: "http://127.0.0.1:{sink}/v1/traces", sample_ratio: {ratio}}}
"""


@contextlib.contextmanager
def _redis(env: Env) -> Iterator[int]:
    """A throwaway redis-server on a free loopback port (on the load core, like upstreams)."""
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    cmd += ["--appendonly", "no"]
    core = None if env.proxy_core is None else 1 - env.proxy_core
    with running(f"redis-{port}", pinned(cmd, core), port=port, workdir=env.workdir):
        yield port


@contextlib.contextmanager
def _otlp_sink(env: Env) -> Iterator[int]:
    """bench/otlp_sink.py on a free loopback port (on the load core, like upstreams)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.otlp_sink", "--port", str(port)]
    core = None if env.proxy_core is None else 1 - env.proxy_core
    with running(f"otlp-sink-{port}", pinned(cmd, core), port=port, workdir=env.workdir):
        yield port


@contextlib.contextmanager
def _router(
    env: Env,
    upstream: Server,
    *,
    name: str,
    extra: tuple[str, ...],
    metered: str | None,
    traced: float | None = None,
    dialect: str | None = None,
) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        port = free_port()
        node_extra = f", dialect: {dialect}" if dialect else ""
        text = ROUTER_CONFIG.format(port=port, upstream=upstream.url, node_extra=node_extra)
        if traced is not None:
            sink = stack.enter_context(_otlp_sink(env))
            text += TRACED.format(sink=sink, ratio=traced)
        if metered is not None:
            text += PRICED + METERED_KEY.format(key=BENCH_KEY)
        if metered == "redis":
            redis_port = stack.enter_context(_redis(env))
            text += REDIS_STATE.format(redis_port=redis_port, port=port)
        elif metered == "memory":
            text += MEMORY_STATE
        config = env.workdir / f"{name}-{port}.yaml"
        config.write_text(text)
        yield stack.enter_context(_serve(env, name, config, port, extra))


def _serve(
    env: Env, name: str, config: Path, port: int, extra: tuple[str, ...]
) -> ContextManager[Server]:
    cmd = [sys.executable, "-m", "router", "serve", "--config", str(config)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), *extra]
    return running(
        name,
        pinned(cmd, env.proxy_core),
        port=port,
        workdir=env.workdir,
        ready_path="/readyz",
        timeout=30.0,
        cwd=env.repo,
        # The router of env.repo, not whichever tree the venv's editable install names
        # (bench/compare.py runs two checkouts side by side).
        extra_env={"PYTHONPATH": str(env.repo)},
    )


def router_target(
    name: str = ROUTER,
    *extra: str,
    metered: str | None = None,
    variant: bool = False,
    traced: float | None = None,
    dialect: str | None = None,
) -> Target:
    """The router with extra `serve` flags (for variants such as `--workers 2`), with
    keys, rpm and credits when `metered` names a state backend ("memory" or "redis"),
    OpenTelemetry tracing at sample ratio `traced` to a local OTLP sink, and its nodes
    declared to speak `dialect` only (`gemini`: every OpenAI request is translated)."""
    start = functools.partial(
        _router, name=name, extra=extra, metered=metered, traced=traced, dialect=dialect
    )
    requires = ("redis-server",) if metered == "redis" else ()
    return Target(name, start, requires=requires, variant=variant)


def default_targets() -> list[Target]:
    """The columns, references first."""
    return [
        Target(DIRECT, _direct, family="upstream"),
        Target(BARE, _bare),
        Target(NGINX, _nginx, requires=("nginx",), family="nginx"),
        router_target(),
        # The same build again: what the paired comparison reads when nothing differs.
        router_target("router-again", variant=True),
        # The cost of metrics and access logs (issue: at most 10%).
        router_target("router-quiet", "--no-metrics", "--no-access-log", variant=True),
        # Keys, rpm and credits in memory and on Redis (issue 32: >= 0.9x unmetered, and
        # Redis >= 0.85x memory).
        router_target("router-memory", metered="memory", variant=True),
        router_target("router-redis", metered="redis", variant=True),
        # Two workers on the same core (this machine has two cores in all: see docs/benchmarks.md).
        router_target("router-w2", "--workers", "2", metered="redis", variant=True),
        # Three replicas sharing one Redis (as --workers 3: separate processes, one port),
        # on the proxy core: on two cores this shows the shared state's overhead, not scaling.
        router_target("router-x3", "--workers", "3", metered="redis", variant=True),
        # OpenTelemetry traces exported over OTLP/HTTP: every request, and one in a hundred.
        router_target("router-traced", variant=True, traced=1.0),
        router_target("router-traced-1pct", variant=True, traced=0.01),
    ]


def missing_requirement(target: Target) -> str | None:
    """Why `target` cannot run on this machine, or None."""
    for program in target.requires:
        if find_program(program) is None:
            return f"{program} not installed"
    return None
