"""The machine under the benchmark: file limits, CPU pinning, system tools, ports and memory."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
from collections import deque
from pathlib import Path

PROXY_CORE = 0
LOAD_CORE = 1


def raise_nofile() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (soft, hard) afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft, hard


def can_pin() -> str | None:
    """None when `taskset -c 0` / `-c 1` are usable, else why not."""
    if shutil.which("taskset") is None:
        return "taskset not found (util-linux)"
    cores = os.sched_getaffinity(0)
    if not {PROXY_CORE, LOAD_CORE} <= cores:
        return f"cores {PROXY_CORE} and {LOAD_CORE} are not both available (have {sorted(cores)})"
    return None


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """Prefix `cmd` with taskset for `core` (None: run unpinned)."""
    return cmd if core is None else ["taskset", "-c", str(core), *cmd]


def find_program(name: str) -> str | None:
    """Path of a system program, looking in sbin too (nginx lives in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_tools(names: tuple[str, ...] = ("wrk", "nginx")) -> dict[str, str]:
    """Install missing wrk/nginx with apt (as root); return {name: why missing} for failures."""
    missing = [n for n in names if find_program(n) is None]
    if not missing:
        return {}
    if os.geteuid() != 0:
        return {
            n: "not installed and not root: run `make sysdeps` or apt-get install" for n in missing
        }
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"bench: installing {' '.join(missing)} with apt-get", flush=True)
    log: list[str] = []
    update = subprocess.run(
        ["apt-get", "update", "-qq"], env=env, capture_output=True, text=True, timeout=600
    )
    log.append(update.stderr[-500:])
    for name in missing:
        choices = ["nginx-light", "nginx"] if name == "nginx" else [name]
        for package in choices:
            done = subprocess.run(
                ["apt-get", "install", "-y", "-qq", package],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            log.append(done.stderr[-500:])
            if done.returncode == 0 and find_program(name):
                break
    failed = [n for n in missing if find_program(n) is None]
    tail = " | ".join(line.strip() for line in log if line.strip())[-300:]
    return {n: f"apt-get install failed: {tail or 'no output'}" for n in failed}


# Ports handed out lately by this process: two processes started side by side (a router
# and its nodes) each ask for a port before either binds, and must not get the same one.
_RECENT_PORTS: deque[int] = deque(maxlen=512)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago and not handed out lately."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _RECENT_PORTS:
            break
    _RECENT_PORTS.append(port)
    return port


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (for routers that fork workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def status_kib(pid: int, field: str) -> int:
    """A `kB` field (VmRSS, VmHWM) from /proc/PID/status; 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its descendants, KiB."""
    return sum(status_kib(p, "VmRSS") for p in process_tree(pid))


def tree_hwm_kib(pid: int) -> int:
    """Sum of the peak resident memory (VmHWM) of `pid` and its descendants, KiB."""
    return sum(status_kib(p, "VmHWM") for p in process_tree(pid))


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants so far (0 for any that is gone)."""
    ticks = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: utime and stime are 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
