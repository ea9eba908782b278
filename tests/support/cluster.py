"""A whole deployment on loopback for tests/test_cluster.py: nginx, replicas, Redis, nodes.

`Cluster` starts one redis-server, three mock nodes, three `router serve` replicas (one of
them with `--workers 2`) sharing one routes.yaml with the Redis backend, and nginx with
deploy/nginx/router.conf rendered for their loopback ports. The wrapper nginx.conf (ours,
not the deploy file) adds an `X-Upstream-Addr` response header, so a client can tell which
replica answered (`tests.support.nginx`). `Traffic` (tests/cluster_traffic.py) runs bounded
client loops through nginx and keeps every outcome; `states_everywhere` polls each replica's
admin API directly.

Blocking process control (start, wait, kill) is wrapped in `asyncio.to_thread` by the test,
so the client loops keep running while replicas and nodes come and go.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.support import (
    REPO_ROOT,
    Nginx,
    Proc,
    RedisServer,
    free_port,
    mock_node_launch,
    router_launch,
    routes_yaml,
    start_all,
    start_mock_node,
)

MODEL = "gemini-2.5-flash"
ADMIN_TOKEN = "cluster-admin-token"
HEALTH_INTERVAL = 0.5
EJECTION_SECONDS = 30  # long: only a successful probe may end the ejection in this test
CHUNK_DELAY = 0.25  # a stream is ~10 events: about 2.25 s, longer than shutdown_delay
SHUTDOWN_DELAY = 1.0
SHUTDOWN_GRACE = 10.0
PRICING: dict[str, Any] = {"pre_deduct": 5, "prompt_per_1k": 0.3, "completion_per_1k": 2.5}
NODE_NAMES = ("node-a", "node-b", "node-c")
REPLICA_WORKERS = (1, 2, 1)
READY_TIMEOUT = 30.0  # two busy cores: a Python start can take several seconds


def cluster_config(node_urls: dict[str, str], redis_url: str) -> str:
    """The routes.yaml every replica reads."""
    server = {
        "admin_token": ADMIN_TOKEN,
        "shutdown_delay": SHUTDOWN_DELAY,
        "shutdown_grace": SHUTDOWN_GRACE,
        "trusted_proxies": ["127.0.0.1/32"],
        "node_headers": ["X-Mock-Node"],
    }
    defaults = {
        "retries": 2,
        "timeouts": {"connect": 1, "first_byte": 10, "idle": 10, "total": 30},
        "health": {
            "interval": HEALTH_INTERVAL,
            "timeout": 0.4,
            # Three failed probes take ~1.5 s: an ejection seen within 1 s is the
            # passive one, shared through Redis, not each replica's own probes.
            "unhealthy_threshold": 3,
            "healthy_threshold": 1,
        },
        "ejection": {
            "consecutive_failures": 2,
            "base_seconds": EJECTION_SECONDS,
            "max_seconds": 300,
            "max_percent": 50,
        },
    }
    model = {
        "strategy": "least_inflight",
        "backends": [{"node": name} for name in node_urls],
        "pricing": PRICING,
    }
    return routes_yaml(
        {name: {"url": url} for name, url in node_urls.items()},
        {MODEL: model},
        server=server,
        defaults=defaults,
        state={"backend": "redis", "redis_url": redis_url},
        test_defaults=False,
    )


def router_cli(config: Path, *args: str) -> str:
    """Run `python -m router <args> --config <config>`; its stdout (fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "router", *args[:2], "--config", str(config), *args[2:]],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"router {' '.join(args)}: {done.stderr}"
    return done.stdout


def create_key(config: Path, name: str, *, rpm: int, credits: int) -> str:
    """A dynamic key in Redis; the plain key."""
    out = router_cli(
        config, "keys", "create", "--name", name, "--rpm", str(rpm), "--credits", str(credits)
    )
    return out.strip().splitlines()[-1]


def key_credits(config: Path, name: str) -> Decimal:
    """The key's balance as `keys show` prints it, in credits."""
    shown = orjson.loads(router_cli(config, "keys", "show", name))
    return Decimal(str(shown["credits"]))


# --- processes -----------------------------------------------------------------------------


class Replica:
    """One `router serve` on a fixed port (nginx names it), restartable on the same port."""

    def __init__(self, index: int, port: int, workers: int, config: Path, log_dir: Path):
        self.name = f"replica{index}"
        self.port = port
        self.workers = workers
        self.config = config
        self.log_dir = log_dir
        self.generations: list[Proc] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> Proc:
        return self.generations[-1]

    def begin(self) -> Replica:
        """Start a new generation (not waiting); its logs go to a file of their own."""
        extra = ["--log-format", "json"]
        if self.workers > 1:
            extra += ["--workers", str(self.workers)]
        name = f"{self.name}-gen{len(self.generations)}"
        launch = router_launch(self.config, *extra, log_dir=self.log_dir, name=name, port=self.port)
        self.generations.append(launch.begin())
        return self

    def wait_ready(self) -> Replica:
        self.proc.wait_ready(f"{self.url}/readyz", timeout=READY_TIMEOUT)
        return self

    def log_events(self, event: str, generation: int | None = None) -> list[dict[str, Any]]:
        """JSON log lines named `event` (of one generation, or of all)."""
        procs = self.generations if generation is None else [self.generations[generation]]
        found = []
        for path in [p for proc in procs for p in (proc.stdout_path, proc.stderr_path)]:
            if not path.exists():
                continue
            for raw in path.read_bytes().splitlines():
                with contextlib.suppress(orjson.JSONDecodeError):
                    line = orjson.loads(raw)
                    if isinstance(line, dict) and line.get("event") == event:
                        found.append(line)
        return found

    def started_after_stop(self, generation: int, after: float) -> list[dict[str, Any]]:
        """Requests of a generation that began over `after` s after its SIGTERM was seen.

        Each access line is written when a request ends; it began `duration_ms` earlier.
        """
        stopping = [_wall(e) for e in self.log_events("stopping", generation)]
        if not stopping:
            return []
        cutoff = min(stopping) + after
        return [
            e
            for e in self.log_events("access", generation)
            if _wall(e) - float(e.get("duration_ms") or 0) / 1000 > cutoff
        ]

    def stop(self) -> None:
        for proc in self.generations:
            proc.stop(timeout=15)


def _wall(event: dict[str, Any]) -> float:
    """A JSON log line's timestamp as Unix seconds."""
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


class Cluster:
    """Everything the cluster test runs; `stop` stops all of it, whatever was started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.redis = RedisServer(directory / "redis")
        self.nodes: dict[str, Proc] = {}
        self.replicas: list[Replica] = []
        self.nginx: Nginx | None = None
        self.config = directory / "routes.yaml"
        self._restarted_nodes: list[Proc] = []

    def start(self) -> Cluster:
        (self.directory / "redis").mkdir()
        self.redis.start()
        launches = [
            mock_node_launch(
                name,
                "--chunk-delay",
                str(CHUNK_DELAY),
                log_dir=self.directory,
                timeout=READY_TIMEOUT,
            )
            for name in NODE_NAMES
        ]
        for proc in start_all(launches):
            self.nodes[proc.name] = proc
        urls = {name: self.nodes[name].base_url for name in NODE_NAMES}
        self.config.write_text(cluster_config(urls, self.redis.url), encoding="utf-8")
        ports = [free_port() for _ in REPLICA_WORKERS]
        assert len(set(ports)) == len(ports)
        for index, (port, workers) in enumerate(zip(ports, REPLICA_WORKERS, strict=True)):
            self.replicas.append(Replica(index, port, workers, self.config, self.directory))
        for replica in self.replicas:
            replica.begin()
        for replica in self.replicas:
            replica.wait_ready()
        nginx_dir = self.directory / "nginx"
        nginx_dir.mkdir()
        self.nginx = Nginx(nginx_dir, ports).start().wait_ready()
        return self

    def restart_node(self, name: str) -> Proc:
        """Start a killed mock node again on its port (same name, same faults)."""
        port = self.nodes[name].port
        log_dir = self.directory / f"{name}-restarted-{len(self._restarted_nodes)}"
        log_dir.mkdir()
        proc = start_mock_node(name, port, "--chunk-delay", str(CHUNK_DELAY), log_dir=log_dir)
        self._restarted_nodes.append(proc)
        self.nodes[name] = proc
        return proc

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for replica in self.replicas:
            with contextlib.suppress(RuntimeError):
                replica.proc.terminate()
        for replica in self.replicas:
            replica.stop()
        for proc in [*self.nodes.values(), *self._restarted_nodes]:
            proc.stop()
        self.redis.stop()

    def diagnostics(self) -> str:
        """Tails of the logs that explain a failure."""
        parts = [] if self.nginx is None else [self.nginx.errors()]
        if self.nginx is not None:
            # The rpm burst's 429s are expected; anything else not 200 is a lead.
            lines = self.nginx.access_lines()
            limited = sum(" 429 " in line[:20] for line in lines)
            bad = [line for line in lines if not re.search(r" (200|429) ", line[:20])]
            parts.append(
                f"--- nginx lines neither 200 nor 429 ({len(bad)}; 429s: {limited}) ---\n"
                + "\n".join(bad[-30:])
            )
        for replica in self.replicas:
            for proc in replica.generations:
                tail = [
                    line
                    for line in proc.output().splitlines()
                    if '"event":"access"' not in line or not re.search(r'"status":(200|429),', line)
                ]
                parts.append("\n".join(tail[-15:]))
        return "\n".join(parts)


# --- admin polling ---------------------------------------------------------------------------


async def node_state(session: aiohttp.ClientSession, replica: Replica, node: str) -> str:
    """The node's state in one replica's GET /admin/nodes (over a new connection)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        async with session.get(
            f"{replica.url}/admin/nodes",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=2),
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                return f"http {resp.status}"
            return str(orjson.loads(body)["nodes"][node]["state"])
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"error {type(exc).__name__}"


async def time_until_state(
    session: aiohttp.ClientSession,
    replica: Replica,
    node: str,
    state: str,
    *,
    since: float,
    streak: int,
    within: float,
) -> float | None:
    """Seconds from `since` to the first of `streak` polls in a row all showing `state`.

    With `--workers 2` each poll lands on either worker (SO_REUSEPORT, a new connection
    every time), so a long streak means both workers show it. None if not seen in `within`.
    """
    run_began: float | None = None
    run = 0
    for _ in range(int(within / 0.005) + streak):  # bounded in count as well as in time
        sent = time.monotonic()
        if sent - since > within and run == 0:
            return None
        got = await node_state(session, replica, node)
        if got == state:
            run_began = sent if run == 0 else run_began
            run += 1
            if run >= streak:
                assert run_began is not None
                return run_began - since
        else:
            run = 0
            await asyncio.sleep(0.01)
    return None


async def states_everywhere(
    replicas: Sequence[Replica], node: str, state: str, *, since: float, within: float
) -> dict[str, float | None]:
    """`time_until_state` for every replica at once (streak 10 for multi-worker ones)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=20)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(
            *(
                time_until_state(
                    session,
                    r,
                    node,
                    state,
                    since=since,
                    streak=10 if r.workers > 1 else 2,
                    within=within,
                )
                for r in replicas
            )
        )
    return {
        r.name: (None if t is None else round(t, 3)) for r, t in zip(replicas, results, strict=True)
    }
