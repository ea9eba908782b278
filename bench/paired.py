"""Paired throughput runs: two variants of the router loaded at once, taking turns on a core.

On this VM one wrk run moves by up to a third with the neighbours' load, and even two
runs a few seconds apart differ by 10-20%: comparing variants run one after the other
measured the noise more than the variants. So both variants are loaded by their own wrk
for the same seconds, and they take turns on the proxy core every `SLICE` seconds (the
other one stopped with SIGSTOP, its connections simply waiting): both meet the same
machine, slice for slice, and each has the core to itself while it runs (ten switches a
second cost little; switching at every blocking call, as two runnable servers on one core
do, cost both 30%). The ratio of their requests/s is the figure, the median of
`paired_rounds` rounds. CPU time per request of each server's process tree, read from
/proc, is shown beside it; since each server keeps the core busy through its slices, it
is not a second opinion on the ratio, only the cost of a request in absolute terms.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.procs import Server
from bench.runner import Run
from bench.system import tree_cpu_seconds
from bench.targets import Target

CONNECTIONS = 32
SLICE = 0.1  # seconds each variant runs before the other one's turn


@dataclass(frozen=True, slots=True)
class Sample:
    """One wrk run against one server: requests/s and the server's CPU time per request."""

    rps: float
    cpu_us: float  # user + system CPU of the server's process tree per request, microseconds
    problems: str = ""  # wrk's errors, empty when every request got a 2xx


@dataclass(frozen=True, slots=True)
class Paired:
    """Samples of two variants taken in rounds: top[i] and bottom[i] shared round i."""

    top: tuple[Sample, ...]
    bottom: tuple[Sample, ...]

    @property
    def problems(self) -> str:
        return next((s.problems for s in self.top + self.bottom if s.problems), "")

    @property
    def ratios(self) -> list[float]:
        """top / bottom requests/s, one per round."""
        return [t.rps / b.rps for t, b in zip(self.top, self.bottom, strict=True) if b.rps]

    @property
    def ratio(self) -> float:
        """The median round's ratio: one odd round does not move it."""
        return statistics.median(self.ratios)


def first_in_pair(pair_no: int) -> int:
    """Which variant gets the first slice of round `pair_no` (0: top, 1: bottom). It
    alternates, and the rounds are even in number, so where the wrk windows start and end
    within a slice favours each variant equally often."""
    return pair_no % 2


def median_sample(samples: tuple[Sample, ...]) -> Sample:
    return Sample(
        rps=statistics.median(s.rps for s in samples),
        cpu_us=statistics.median(s.cpu_us for s in samples),
    )


class PairUnavailable(RuntimeError):
    """One of the two variants could not be started or measured; the message says why."""


def measure(run: Run, upstream: Server, script: Path, top: Target, bottom: Target) -> Paired:
    """Start both variants, warm each up, then run `paired_rounds` time-sliced rounds."""
    s = run.settings
    with run.started(top, upstream) as a, run.started(bottom, upstream) as b:
        if a is None or b is None:
            raise PairUnavailable(run.unavailable(top) or run.unavailable(bottom) or "not started")
        if s.warmup_seconds:
            for server in (a, b):
                _run_wrk(run, server, script, s.warmup_seconds)
        samples: tuple[list[Sample], list[Sample]] = ([], [])
        for round_no in range(s.paired_rounds):
            print(f"bench: paired {a.name} / {b.name} (round {round_no + 1})", flush=True)
            first = first_in_pair(round_no)
            pair = _sliced_round(run, (a, b) if first == 0 else (b, a), script, s.paired_seconds)
            for index, sample in enumerate(pair if first == 0 else pair[::-1]):
                samples[index].append(sample)
    return Paired(top=tuple(samples[0]), bottom=tuple(samples[1]))


def _sliced_round(
    run: Run, servers: tuple[Server, Server], script: Path, seconds: int
) -> tuple[Sample, Sample]:
    """Load both servers for `seconds`, letting only one run at a time (the first starts)."""
    before = [tree_cpu_seconds(server.pid) for server in servers]
    results: dict[int, wrk.WrkResult | Exception] = {}

    def load(index: int) -> None:
        try:
            results[index] = _run_wrk(run, servers[index], script, seconds)
        except Exception as exc:  # reported by the row, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in (0, 1)]
    running, stopped = servers
    try:
        _signal(stopped, signal.SIGSTOP)
        for thread in threads:
            thread.start()
        switch_at = time.monotonic()
        while any(thread.is_alive() for thread in threads):
            # Fixed deadlines: the loop's own overhead must not lengthen one side's slices.
            switch_at += SLICE
            time.sleep(max(0.0, switch_at - time.monotonic()))
            _signal(running, signal.SIGSTOP)
            _signal(stopped, signal.SIGCONT)
            running, stopped = stopped, running
    finally:
        for server in servers:
            _signal(server, signal.SIGCONT)
        for thread in threads:
            thread.join(timeout=seconds + 60)
    samples = []
    for index, server in enumerate(servers):
        result = results.get(index)
        if not isinstance(result, wrk.WrkResult):
            why = repr(result) if result is not None else "did not finish"
            raise PairUnavailable(f"wrk against {server.name}: {why}")
        used = tree_cpu_seconds(server.pid) - before[index]
        cpu_us = 1e6 * used / result.requests if result.requests else 0.0
        problems = "" if result.is_clean else f"{server.name}: {result.problems()}"
        samples.append(Sample(rps=result.rps, cpu_us=cpu_us, problems=problems))
    return samples[0], samples[1]


def _signal(server: Server, sig: signal.Signals) -> None:
    # The server's process group (its workers too); it may have exited, which wrk reports.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, sig)


def _run_wrk(run: Run, server: Server, script: Path, seconds: int) -> wrk.WrkResult:
    try:
        return wrk.run(
            server.url, script, connections=CONNECTIONS, seconds=seconds, core=run.load_core
        )
    except (RuntimeError, OSError) as exc:
        raise PairUnavailable(f"wrk: {exc}") from exc
