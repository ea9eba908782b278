"""Run real `python -m router ...` processes on loopback for the integration tests.

Every process is started with its output going to files, is waited on until a readiness URL
answers, and is stopped (SIGTERM, then SIGKILL) by whoever started it, normally a fixture in
`tests/conftest.py`. Only the standard library is used, so readiness polling needs no event
loop and works from sync and async tests alike.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class Proc:
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

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_mock_node(
    name: str, port: int | None = None, *extra_args: str, log_dir: Path | None = None
) -> Proc:
    """Start `router mock-node` and wait until it answers; stop it with `.stop()`."""
    # With a chosen free port, another process may grab it first: try a few ports then.
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        node_port = port if port is not None else free_port()
        args = ["mock-node", "--port", str(node_port), "--name", name, *extra_args]
        proc = Proc(args, name=name, port=node_port, log_dir=log_dir).start()
        try:
            # /_mock/stats, not /health: a --health-status fault must not look like a failed start.
            return proc.wait_ready(f"{proc.base_url}/_mock/stats")
        except ProcessError as exc:
            proc.stop()
            if attempt == attempts - 1 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")
