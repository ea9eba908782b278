"""A Redis master, one replica and three `redis-sentinel` processes on free loopback ports.

`SentinelSet.start` waits until the Sentinels know each other and the replica, so a
failover can happen at once; the failure detection is tuned down (half a second of
silence marks the master down) so a test sees a promotion within a few seconds.
`kill_master` is a crash (SIGKILL); `wait_promoted` polls the Sentinels until they name
the replica.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.support.procs import free_port
from tests.support.redis import RedisServer

REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
MASTER_NAME = "routermaster"
DOWN_AFTER_MS = 500  # silence before a Sentinel thinks the master down (default 30 s)
FAILOVER_TIMEOUT_MS = 2000  # default 3 minutes


class SentinelSet:
    """Everything Sentinel needs on loopback; `stop` stops all of it, whatever started."""

    def __init__(self, workdir: Path, sentinels: int = 3) -> None:
        self.workdir = workdir
        self.master = RedisServer(workdir / "master")
        self.replica = RedisServer(
            workdir / "replica", extra=("--replicaof", "127.0.0.1", str(self.master.port))
        )
        self.ports = [free_port() for _ in range(sentinels)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def addresses(self) -> list[str]:
        """`host:port` of each Sentinel, as routes.yaml lists them."""
        return [f"127.0.0.1:{port}" for port in self.ports]

    def start(self, timeout: float = 20.0) -> SentinelSet:
        for server in (self.master, self.replica):
            server.workdir.mkdir(parents=True, exist_ok=True)
            server.start()
        for port in self.ports:
            conf = self.workdir / f"sentinel-{port}.conf"
            conf.write_text(self._conf(port), encoding="utf-8")
            log = (self.workdir / f"sentinel-{port}.log").open("wb")
            with log:
                self.procs.append(
                    subprocess.Popen([REDIS_SENTINEL, str(conf)], stdout=log, stderr=log)
                )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Sentinels were not ready after {timeout}s")
            time.sleep(0.1)
        return self

    def _conf(self, port: int) -> str:
        name = MASTER_NAME
        return (
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {self.workdir}\n"
            f"sentinel monitor {name} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {name} 1\n"
        )

    def _ready(self) -> bool:
        """Every Sentinel sees the two others and the replica (so it can elect and promote)."""
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as client:
                    state = client.sentinel_master(MASTER_NAME)
            except (redis.RedisError, OSError):
                return False
            if int(state["num-other-sentinels"]) < len(self.ports) - 1:
                return False
            if int(state["num-slaves"]) < 1:
                return False
        with redis.Redis(port=self.replica.port, socket_timeout=1) as client:
            link = client.info("replication").get("master_link_status")
        return link == "up"

    def master_port(self) -> int | None:
        """The port the first Sentinel that answers names as the master's."""
        for port in self.ports:
            with (
                contextlib.suppress(redis.RedisError, OSError),
                redis.Redis(port=port, socket_timeout=1) as client,
            ):
                address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                if address:
                    return int(address[1])
        return None

    def kill_master(self) -> float:
        """SIGKILL the master; the monotonic time it died."""
        self.master.kill()
        return time.monotonic()

    def wait_promoted(self, timeout: float = 30.0) -> float:
        """Poll until every Sentinel names the replica; the monotonic time the first did."""
        first: float | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            named = [self._names(port) for port in self.ports]
            if first is None and self.replica.port in named:
                first = time.monotonic()
            if all(port == self.replica.port for port in named) and first is not None:
                return first
            time.sleep(0.02)
        raise RuntimeError(f"no Sentinel promoted the replica within {timeout}s")

    def _names(self, port: int) -> int | None:
        try:
            with redis.Redis(port=port, socket_timeout=1) as client:
                address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
        except (redis.RedisError, OSError):
            return None
        return int(address[1]) if address else None

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs = []
        self.replica.stop()
        self.master.stop()
