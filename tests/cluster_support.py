"""A whole deployment on loopback for tests/test_cluster.py: nginx, replicas, Redis, nodes.

`Cluster` starts one redis-server, three mock nodes, three `router serve` replicas (one of
them with `--workers 2`) sharing one routes.yaml with the Redis backend, and nginx with
deploy/nginx/router.conf rendered for their loopback ports. The wrapper nginx.conf (ours,
not the deploy file) adds an `X-Upstream-Addr` response header, so a client can tell which
replica answered. `Traffic` runs bounded client loops through nginx and keeps every
outcome; `states_everywhere` polls each replica's admin API directly.

Blocking process control (start, wait, kill) is wrapped in `asyncio.to_thread` by the test,
so the client loops keep running while replicas and nodes come and go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.support import (
    REPO_ROOT,
    Proc,
    RedisServer,
    chat_body,
    free_port,
    mock_node_launch,
    poll_ready,
    router_launch,
    routes_yaml,
    start_all,
    start_mock_node,
)

NGINX = "/usr/sbin/nginx"
NGINX_CONF = REPO_ROOT / "deploy" / "nginx" / "router.conf"
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


class Nginx:
    """nginx running deploy/nginx/router.conf, rendered for loopback ports, in the foreground."""

    def __init__(self, directory: Path, upstream_ports: Sequence[int]) -> None:
        self.directory = directory
        self.port = free_port()
        self.upstream_ports = list(upstream_ports)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self) -> str:
        """router.conf with one `server` line per replica and a loopback `listen`."""
        text = NGINX_CONF.read_text()
        servers = list(re.finditer(r"^( *)server router-\d+:8080(.*);\n", text, re.MULTILINE))
        assert servers, "no `server router-N:8080` line in router.conf"
        indent, params = servers[0][1], servers[0][2]
        lines = "".join(f"{indent}server 127.0.0.1:{p}{params};\n" for p in self.upstream_ports)
        for match in reversed(servers[1:]):
            text = text[: match.start()] + text[match.end() :]
        text = text[: servers[0].start()] + lines + text[servers[0].end() :]
        text, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.port};", text)
        assert listens == 1, "router.conf has no `listen 8080;`"
        return text

    def start(self) -> Nginx:
        d = self.directory
        (d / "router.conf").write_text(self.render())
        temp_paths = " ".join(
            f"{kind}_temp_path {d / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx would run its workers as `nobody`, who cannot enter pytest's tmp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (d / "nginx.conf").write_text(
            f"{user}pid {d / 'nginx.pid'};\n"
            f"error_log {d / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  log_format upstream '$msec $status $request_time $upstream_addr "
            "$upstream_status $request';\n"
            f"  access_log {d / 'access.log'} upstream;\n"
            f"  {temp_paths}\n"
            "  add_header X-Upstream-Addr $upstream_addr always;\n"
            "  include router.conf;\n"
            "}\n"
        )
        err = (d / "nginx.stderr.log").open("wb")
        with err:
            self.popen = subprocess.Popen(
                [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = 15.0) -> Nginx:
        """Until a replica answers /healthz through nginx."""
        assert self.popen is not None
        poll_ready(
            self.popen,
            f"{self.url}/healthz",
            name="nginx",
            timeout=timeout,
            details=lambda: "\n" + self.errors(),
        )
        return self

    def errors(self) -> str:
        parts = []
        for name in ("nginx.stderr.log", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def access_lines(self) -> list[str]:
        path = self.directory / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


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


# --- client traffic --------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """One client request through nginx."""

    is_stream: bool
    started: float
    ended: float = 0.0
    headers_at: float | None = None  # when the response headers arrived
    status: int = 0
    node: str | None = None  # X-Mock-Node
    replica: str | None = None  # X-Upstream-Addr (nginx)
    done: bool = False  # a complete answer: `data: [DONE]` or a chat.completion body
    error_event: bool = False  # a stream ended by the router's mid-stream error event
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.done

    def describe(self) -> str:
        kind = "stream" if self.is_stream else "plain"
        return (
            f"{kind} status={self.status} node={self.node} replica={self.replica} "
            f"t={self.started:.2f}..{self.ended:.2f} detail={self.detail[:200]!r}"
        )


def _error_event(body: bytes) -> bool:
    last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    if not last.startswith(b"data: "):
        return False
    try:
        event = orjson.loads(last.removeprefix(b"data: "))
    except orjson.JSONDecodeError:
        return False
    return isinstance(event, dict) and event.get("success") is False


@dataclass(slots=True)
class Traffic:
    """Bounded client loops (plain and streaming chat) through nginx with one key."""

    session: aiohttp.ClientSession
    url: str
    key: str
    plain_loops: int = 3
    stream_loops: int = 6
    pause: float = 0.05
    max_requests: int = 5000  # per loop: the loops end by themselves even if never stopped
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def one(self, is_stream: bool) -> Outcome:
        outcome = Outcome(is_stream, time.monotonic())
        self.outcomes.append(outcome)
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            async with self.session.post(
                self.url + "/v1/chat/completions",
                json=chat_body(MODEL, stream=is_stream),
                headers=headers,
            ) as resp:
                outcome.headers_at = time.monotonic()
                outcome.status = resp.status
                outcome.node = resp.headers.get("X-Mock-Node")
                outcome.replica = resp.headers.get("X-Upstream-Addr")
                body = b""
                try:
                    async for chunk in resp.content.iter_any():
                        body += chunk
                except aiohttp.ClientPayloadError as exc:
                    outcome.detail = f"payload error {exc!r}; "
                if is_stream:
                    outcome.done = body.endswith(b"data: [DONE]\n\n")
                    outcome.error_event = _error_event(body)
                else:
                    outcome.done = b'"chat.completion"' in body
                if not outcome.ok:
                    outcome.detail += body[-300:].decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome.detail += repr(exc)
        outcome.ended = time.monotonic()
        return outcome

    async def _loop(self, is_stream: bool) -> None:
        for _ in range(self.max_requests):
            if self._stop.is_set():
                return
            await self.one(is_stream)
            if self.pause:
                await asyncio.sleep(self.pause)

    def start(self) -> Traffic:
        loops = [False] * self.plain_loops + [True] * self.stream_loops
        self._tasks = [asyncio.create_task(self._loop(s)) for s in loops]
        return self

    async def stop(self, within: float = 30.0) -> None:
        self._stop.set()
        async with asyncio.timeout(within):
            await asyncio.gather(*self._tasks)

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """Requests started in [start, end)."""
        return [o for o in self.outcomes if start <= o.started < end]

    @staticmethod
    def summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for o in outcomes:
            kind = "stream" if o.is_stream else "plain"
            counts[f"{kind}_total"] += 1
            if o.ok:
                counts[f"{kind}_ok"] += 1
            elif o.is_stream and o.status == 200 and o.error_event:
                counts["stream_error_event"] += 1
            else:
                counts[f"{kind}_failed"] += 1
        return dict(sorted(counts.items()))


async def burst(
    session: aiohttp.ClientSession, url: str, key: str, count: int, concurrency: int
) -> list[tuple[int, str]]:
    """`count` plain requests with `key`, `concurrency` at a time: (status, error code)."""
    results: list[tuple[int, str]] = []
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            headers = {"Authorization": f"Bearer {key}"}
            try:
                async with session.post(
                    url + "/v1/chat/completions", json=chat_body(MODEL), headers=headers
                ) as resp:
                    body = await resp.read()
                    code = ""
                    if resp.status != 200:
                        with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
                            code = str(orjson.loads(body)["error"]["code"])
                        code = code or body[:100].decode(errors="replace")
                    results.append((resp.status, code))
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append((0, repr(exc)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results
