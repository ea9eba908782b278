"""Run real `python -m router ...` processes on loopback for the integration tests.

Every process is started with its output going to files, is waited on until a readiness URL
answers, and is stopped (SIGTERM, then SIGKILL) by whoever started it, normally a fixture in
`tests/conftest.py`. Only the standard library is used, so readiness polling needs no event
loop and works from sync and async tests alike.

`Launch` says how to start one router or mock node on a free port; `start_all` starts several
side by side (a start costs half a second) and starts again, on another port, one that lost
its free port to another process meanwhile. `start_router` and `start_mock_node` are the
one-process cases.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.system import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# How long a process may take to answer: a wait, not a target. Six Python processes
# starting at once on two busy cores took over 10 s each.
READY_TIMEOUT = 30.0
_S = TypeVar("_S", bound="Stops")
STOP_TIMEOUT = 5.0


class Stops:
    """`with X(...) as x:` stops what x started when the block ends (x.stop())."""

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ProcessError(RuntimeError):
    """A started process died or never became ready; the message carries its output."""


def poll_ready(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    name: str,
    details: Callable[[], str],
    status: int | None = 200,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll `url` until it answers (with `status`, unless None); ProcessError, carrying
    `details()` (the process's output), when the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessError(
                f"{name} exited with {process.returncode} before it was ready {details()}"
            )
        try:
            got, _, _ = http_request("GET", url, timeout=1.0)
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        else:
            if status is None or got == status:
                return
            last = f"status {got}"
        time.sleep(0.05)
    raise ProcessError(f"{name} not ready at {url} after {timeout}s ({last}) {details()}")


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """One blocking HTTP request: (status, headers, body); HTTP error statuses are returned."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers.items()), exc.read()


class Proc(Stops):
    """One `python -m router ...` child process with captured output."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        name: str,
        port: int | None = None,
        log_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = [sys.executable, "-m", "router", *args]
        self.name = name
        self.port = port
        self._owns_log_dir = log_dir is None
        self.log_dir = (
            Path(tempfile.mkdtemp(prefix=f"router-{name}-")) if log_dir is None else log_dir
        )
        suffix = f"{name}-{port}" if port is not None else name
        self.stdout_path = self.log_dir / f"{suffix}.stdout.log"
        self.stderr_path = self.log_dir / f"{suffix}.stderr.log"
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>."""
        if self.port is None:
            raise ValueError(f"{self.name} was started without a port")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._process.poll()

    @property
    def _process(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen

    def start(self) -> Proc:
        """Start the process (not waiting for readiness)."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            # Same process group as pytest on purpose: a Ctrl-C or a group kill aimed at the
            # test run also stops the children even when the teardown never runs.
            self._popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env=self._env,
            )
        return self

    def output(self) -> str:
        """What the process wrote so far, stdout then stderr."""
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {self.name} {label} ---\n{text}")
        return "\n".join(parts)

    def wait_ready(
        self, url: str, *, status: int | None = 200, timeout: float = READY_TIMEOUT
    ) -> Proc:
        """Poll `url` until it answers (with `status`, unless None); raise if the process dies."""
        try:
            poll_ready(
                self._process,
                url,
                name=self.name,
                status=status,
                timeout=timeout,
                details=lambda: f"({' '.join(self.args)})\n{self.output()}",
            )
        except ProcessError:
            self.stop()
            raise
        return self

    def terminate(self) -> None:
        """Send SIGTERM."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL (for crash tests) and reap the process."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(STOP_TIMEOUT)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit; its exit code."""
        return self._process.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; safe to call twice or before start."""
        if self._popen is None:
            return None
        try:
            self.terminate()
            try:
                return self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                return self._popen.wait(timeout)
        finally:
            if self._owns_log_dir:
                shutil.rmtree(self.log_dir, ignore_errors=True)
                self._owns_log_dir = False


def router_args(config: Path, port: int, *extra: str) -> list[str]:
    """`serve` on loopback `port` with `config` (and `extra` flags)."""
    return ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *extra]


def mock_node_args(name: str, port: int, *extra: str) -> list[str]:
    """`mock-node` on loopback `port` (and `extra` flags: faults, delays)."""
    return ["mock-node", "--port", str(port), "--name", name, *extra]


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one process and when it is ready; `port=None` takes a free one."""

    name: str
    args: Callable[[int], list[str]]  # the command line for a port
    ready_path: str
    log_dir: Path | None = None
    port: int | None = None
    env: Mapping[str, str] | None = None
    timeout: float = READY_TIMEOUT

    def begin(self) -> Proc:
        """Start it (not waiting)."""
        port = free_port() if self.port is None else self.port
        proc = Proc(
            self.args(port),
            name=self.name,
            port=port,
            log_dir=self.log_dir,
            env=self.env,
        )
        return proc.start()

    def wait_ready(self, proc: Proc) -> Proc:
        return proc.wait_ready(f"{proc.base_url}{self.ready_path}", timeout=self.timeout)


def router_launch(
    config: Path,
    *extra: str,
    log_dir: Path | None,
    name: str = "router",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
) -> Launch:
    """`router serve` with `config`, ready once /readyz answers 200."""

    def args(chosen: int) -> list[str]:
        return router_args(config, chosen, *extra)

    return Launch(name, args, "/readyz", log_dir, port, env, timeout)


def mock_node_launch(
    name: str,
    *extra: str,
    log_dir: Path | None,
    port: int | None = None,
    timeout: float = READY_TIMEOUT,
) -> Launch:
    """`router mock-node`, ready once /_mock/stats answers (not /health: a --health-status
    fault must not look like a failed start)."""

    def args(chosen: int) -> list[str]:
        return mock_node_args(name, chosen, *extra)

    return Launch(name, args, "/_mock/stats", log_dir, port, None, timeout)


def lost_its_port(exc: ProcessError) -> bool:
    """Whether a process died because its chosen port was taken before it could bind."""
    return "address already in use" in str(exc).lower()


def start_all(launches: Sequence[Launch]) -> list[Proc]:
    """Start every launch side by side and wait until all are ready; on failure stop them all.

    A chosen free port may be taken by another process before ours binds it: such a start is
    tried again on another free port (twice at most); a fixed port is never retried.
    """
    pending = [launch.begin() for launch in launches]
    ready: list[Proc] = []
    try:
        for launch, proc in zip(launches, pending, strict=True):
            for attempt in range(3):
                try:
                    ready.append(launch.wait_ready(proc))
                    break
                except ProcessError as exc:
                    proc.stop()
                    if launch.port is not None or attempt == 2 or not lost_its_port(exc):
                        raise
                    proc = launch.begin()
    except BaseException:
        stop_all([*ready, *pending])
        raise
    return ready


def stop_all(procs: Sequence[Proc]) -> None:
    """Stop several processes at once: SIGTERM to all, then wait for each (a router takes
    `server.shutdown_delay` to exit, and those delays then run side by side)."""
    for proc in procs:
        if proc._popen is not None:
            proc.terminate()
    for proc in procs:
        proc.stop()


def start_router(
    config: Path,
    *extra: str,
    log_dir: Path | None,
    env: Mapping[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
) -> Proc:
    """Run `python -m router serve` on a free loopback port and wait for /readyz."""
    launch = router_launch(config, *extra, log_dir=log_dir, env=env, timeout=timeout)
    return start_all([launch])[0]


def start_mock_node(
    name: str, port: int | None = None, *extra_args: str, log_dir: Path | None = None
) -> Proc:
    """Start `router mock-node` and wait until it answers; stop it with `.stop()`."""
    return start_all([mock_node_launch(name, *extra_args, log_dir=log_dir, port=port)])[0]
