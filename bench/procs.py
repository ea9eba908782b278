"""Start a server process, wait until it answers, and always stop it (its own process group)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class StartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its process id, base URL and log file."""

    name: str
    pid: int
    url: str
    log: Path


def _log_tail(log: Path, limit: int = 600) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text[-limit:].split())


def _is_ready(port: int, ready_path: str | None) -> bool:
    if ready_path is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", ready_path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group we created for `proc`, then SIGKILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


@contextlib.contextmanager
def running(
    name: str,
    cmd: list[str],
    *,
    port: int,
    workdir: Path,
    ready_path: str | None = None,
    timeout: float = 20.0,
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run `cmd` until the block ends; ready once the port accepts (and `ready_path` is 200).
    `extra_env` is added to this process's environment for `cmd`."""
    log = workdir / f"{name}-{port}.log"
    env = {**os.environ, **extra_env} if extra_env else None
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd, env=env
        )
    try:
        deadline = time.monotonic() + timeout
        while not _is_ready(port, ready_path):
            if proc.poll() is not None:
                raise StartError(f"exited with {proc.returncode}: {_log_tail(log)}")
            if time.monotonic() > deadline:
                raise StartError(f"not ready after {timeout:.0f}s: {_log_tail(log)}")
            time.sleep(0.05)
        yield Server(name=name, pid=proc.pid, url=f"http://127.0.0.1:{port}", log=log)
    finally:
        stop(proc)
