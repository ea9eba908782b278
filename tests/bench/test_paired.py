"""The paired rounds of the benchmark (bench/paired.py): arithmetic and the slicing loop,
with wrk, signals and /proc replaced by fakes (no processes)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import paired
from bench.paired import Paired, PairUnavailable, Sample, first_in_pair, median_sample
from bench.procs import Server
from bench.wrk import WrkResult

A = Server(name="a", pid=101, url="http://127.0.0.1:1", log=Path("a.log"))
B = Server(name="b", pid=102, url="http://127.0.0.1:2", log=Path("b.log"))


def samples(*rps: float, cpu_us: float = 100.0) -> tuple[Sample, ...]:
    return tuple(Sample(rps=r, cpu_us=cpu_us) for r in rps)


def wrk_result(requests: int, seconds: float = 1.0) -> WrkResult:
    errors = dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)
    return WrkResult(32, requests, seconds, 1.0, 1.0, 1.0, 1.0, errors)


def test_ratio_is_the_median_of_per_round_ratios_not_a_ratio_of_medians() -> None:
    # The third round ran through a slow stretch: both sides slow, its ratio still 0.95.
    found = Paired(top=samples(950, 900, 380), bottom=samples(1000, 1000, 400))
    assert found.ratios == pytest.approx([0.95, 0.90, 0.95])
    assert found.ratio == pytest.approx(0.95)  # the ratio of medians would be 0.90


def test_one_bad_round_does_not_move_the_median() -> None:
    found = Paired(
        top=samples(900, 910, 300, 905, 920), bottom=samples(1000, 1000, 1000, 1000, 990)
    )
    assert found.ratio == pytest.approx(0.905)


def test_the_first_slice_alternates_between_the_variants() -> None:
    firsts = [first_in_pair(n) for n in range(8)]
    assert firsts == [0, 1, 0, 1, 0, 1, 0, 1]


def test_problems_name_the_first_unclean_run() -> None:
    clean = Sample(rps=10, cpu_us=1)
    found = Paired(
        top=(clean, Sample(rps=5, cpu_us=1, problems="router: status 3")), bottom=(clean, clean)
    )
    assert found.problems == "router: status 3"
    assert Paired(top=(clean,), bottom=(clean,)).problems == ""


def test_median_sample_takes_each_field_median_on_its_own() -> None:
    middle = median_sample((Sample(1, 30), Sample(3, 10), Sample(2, 20)))
    assert (middle.rps, middle.cpu_us) == (2, 20)


class Fakes:
    """Stands in for wrk, killpg and /proc while `_sliced_round` runs for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: str | None = None) -> None:
        self.signals: list[tuple[str, signal.Signals]] = []
        self.cpu = {A.pid: 1.0, B.pid: 5.0}
        self.lock = threading.Lock()
        self.fail = fail
        monkeypatch.setattr(paired, "SLICE", 0.01)
        monkeypatch.setattr(paired, "_signal", self.signal)
        monkeypatch.setattr(paired, "_run_wrk", self.run_wrk)
        monkeypatch.setattr(paired, "tree_cpu_seconds", lambda pid: self.cpu[pid])

    def signal(self, server: Server, sig: signal.Signals) -> None:
        with self.lock:
            self.signals.append((server.name, sig))

    def run_wrk(self, run: Any, server: Server, script: Path, seconds: int) -> WrkResult:
        time.sleep(0.1)
        if server.name == self.fail:
            raise subprocess.TimeoutExpired("wrk", 30)
        self.cpu[server.pid] += 0.5
        return wrk_result(1000 if server.name == "a" else 800)


def test_a_sliced_round_alternates_the_servers_and_always_resumes_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fakes = Fakes(monkeypatch)
    first, second = paired._sliced_round(SimpleNamespace(), (A, B), Path("chat.lua"), 1)
    assert (first.rps, second.rps) == (1000, 800)
    assert (first.cpu_us, second.cpu_us) == (500, 625)  # 0.5 s over 1000 and 800 requests
    sent = fakes.signals
    assert sent[0] == ("b", signal.SIGSTOP)  # the first server starts alone
    # Then turns: stop the running one, continue the other, never both running at once.
    turns = sent[1:-2]
    assert len(turns) >= 4 and len(turns) % 2 == 0
    running = "a"
    for stop, cont in zip(turns[::2], turns[1::2], strict=True):
        assert stop == (running, signal.SIGSTOP)
        running = "b" if running == "a" else "a"
        assert cont == (running, signal.SIGCONT)
    assert sorted(sent[-2:]) == [("a", signal.SIGCONT), ("b", signal.SIGCONT)]


def test_a_failing_wrk_is_reported_and_both_servers_are_resumed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fakes = Fakes(monkeypatch, fail="b")
    with pytest.raises(PairUnavailable, match="wrk against b: TimeoutExpired"):
        paired._sliced_round(SimpleNamespace(), (A, B), Path("chat.lua"), 1)
    assert sorted(fakes.signals[-2:]) == [("a", signal.SIGCONT), ("b", signal.SIGCONT)]


def test_measure_files_each_round_under_its_variant_whichever_went_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[tuple[str, str]] = []

    def sliced(run: Any, servers: tuple[Server, Server], script: Path, seconds: int) -> Any:
        order.append((servers[0].name, servers[1].name))
        return tuple(Sample(rps=1000 if s is A else 800, cpu_us=1) for s in servers)

    @contextlib.contextmanager
    def started(target: Any, upstream: Any) -> Iterator[Server]:
        yield A if target == "top" else B

    monkeypatch.setattr(paired, "_sliced_round", sliced)
    settings = SimpleNamespace(warmup_seconds=0, paired_rounds=4, paired_seconds=1)
    run = SimpleNamespace(settings=settings, started=started)
    found = paired.measure(run, A, Path("chat.lua"), "top", "bottom")  # type: ignore[arg-type]
    assert order == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    assert [s.rps for s in found.top] == [1000] * 4
    assert found.ratio == pytest.approx(1.25)
