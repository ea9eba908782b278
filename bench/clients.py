"""Run bench.stream_client processes on the load core and merge what they recorded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.procs import stop
from bench.system import pinned


@dataclass(slots=True)
class StreamResult:
    """Merged output of one or more stream client processes."""

    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    delays_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    intervals: list[list[float]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def problems(self) -> str:
        return ", ".join(f"{kind}: {n}" for kind, n in self.errors.most_common(3))


@dataclass(frozen=True, slots=True)
class Load:
    """What the clients do: `streams` concurrent streams (split across `clients` processes)."""

    streams: int
    chunks: int
    rounds: int = 1
    ramp: float = 0.0
    deadline: float = 60.0
    clients: int = 1
    delays: bool = True


def run_streams(
    url: str,
    load: Load,
    *,
    workdir: Path,
    core: int | None,
    repo: Path,
    tick: Callable[[], None] | None = None,
) -> StreamResult:
    """Run the clients to completion (killed at deadline + 15 s); call `tick` every 0.2 s."""
    procs, outs = [], []
    for index in range(load.clients):
        share = load.streams // load.clients + (1 if index < load.streams % load.clients else 0)
        out = workdir / f"streams-{time.monotonic_ns()}-{index}.json"
        cmd = [sys.executable, "-m", "bench.stream_client", "--url", url, "--out", str(out)]
        cmd += ["--streams", str(share), "--rounds", str(load.rounds)]
        cmd += ["--chunks", str(load.chunks), "--ramp", str(load.ramp)]
        cmd += ["--deadline", str(load.deadline)]
        if not load.delays:
            cmd.append("--no-delays")
        log = (workdir / (out.name + ".log")).open("wb")
        procs.append(
            subprocess.Popen(
                pinned(cmd, core),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=repo,
                start_new_session=True,
            )
        )
        log.close()
        outs.append(out)
    hard_stop = time.monotonic() + load.deadline + 15.0
    while any(p.poll() is None for p in procs) and time.monotonic() < hard_stop:
        if tick:
            tick()
        time.sleep(0.2)
    result = StreamResult()
    for proc, out in zip(procs, outs, strict=True):
        if proc.poll() is None:
            stop(proc)
            result.errors["client killed at deadline"] += 1
        if not out.exists():
            tail = Path(str(out) + ".log").read_text(errors="replace")[-300:]
            result.errors[f"client failed: {' '.join(tail.split())}"] += 1
            continue
        data = orjson.loads(out.read_bytes())
        result.ok += data["ok"]
        result.errors.update(data["errors"])
        result.delays_ms += data["delays_ms"]
        result.ttfb_ms += data["ttfb_ms"]
        result.intervals += data["intervals"]
    return result
