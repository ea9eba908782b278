"""A real redis-server on a free loopback port.

The `redis_server` fixture (tests/conftest.py) shares one per test module; `RedisServer`
can also be driven directly (stop/start on the same port) to test outages.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.procs import Stops, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class _ExitedEarly(RuntimeError):
    """redis-server exited before answering (its port was taken, most likely)."""


class RedisServer(Stops):
    """One redis-server process without persistence; `stop` and `start` keep the port."""

    def __init__(self, workdir: Path, port: int | None = None, extra: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        # A free port may be taken by another process (another pytest worker) before
        # redis binds it: the first start then tries another, unless the port was given.
        self._may_move = port is None
        self.extra = tuple(extra)  # more redis-server flags (e.g. --replicaof host port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until it answers PING; `stop` then `start` keeps the port."""
        for attempt in range(3):
            try:
                self._start_once(timeout)
                break
            except _ExitedEarly:
                if not self._may_move or attempt == 2:
                    raise
                self.port = free_port()
        self._may_move = False

    def _start_once(self, timeout: float) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise _ExitedEarly(f"redis-server on port {self.port} exited with {code}")
            if self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash, with no chance to hand anything over."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None
