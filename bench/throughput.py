"""Section 1, throughput: non-streaming requests/s at 32 and 256 connections, as x bare."""

from __future__ import annotations

import statistics
from dataclasses import asdict
from pathlib import Path

from bench import paired, wrk
from bench.procs import Server
from bench.report import MET, MISSED, REFUSED, REPORTED, UNAVAILABLE, Row
from bench.runner import Run
from bench.targets import BARE, DIRECT, ROUTER, main_targets, target_named

HEADROOM = 3.0  # the upstream alone must be this much faster than a Python proxy
TARGET_RATIO = 1.0  # router at 32 connections vs the bare pass-through (issue 32)
STRETCH_RATIO = 1.3
P99_RATIO = 1.2  # the router's p99 at most this much bare's


def run_section(run: Run) -> None:
    """Measure every target with wrk; refuse figures whose setup was not sane; then compare
    the router's variants in paired runs (`bench/paired.py`).

    This VM's neighbours slow whole stretches of a run down by up to a third, so the
    targets take turns (in a rotating order) over `throughput_rounds` rounds and each
    keeps its best round (noise only ever makes a run slower); a round with errors is kept
    instead, so its problems show.
    """
    s = run.settings
    script = wrk.write_script(run.env.workdir)
    results: dict[str, dict[int, wrk.WrkResult]] = {}
    rounds: dict[str, list[wrk.WrkResult]] = {}  # every round at 32 connections
    why: dict[str, str] = {}
    targets = main_targets(run.targets)
    with run.json_upstream() as upstream:
        for round_no in range(1, s.throughput_rounds + 1):
            # Each round starts one target later, so no target always runs right after
            # the same neighbour (nginx's 60k req/s, say) or always first.
            shift = (round_no - 1) % len(targets)
            for target in targets[shift:] + targets[:shift]:
                if target.name in why:
                    continue
                with run.started(target, upstream) as server:
                    if server is None:
                        why[target.name] = run.unavailable(target) or "not started"
                        continue
                    print(f"bench: throughput {target.name} (round {round_no})", flush=True)
                    try:
                        best = results.setdefault(target.name, {})
                        _measure(run, server.url, script, best, rounds.setdefault(target.name, []))
                    except (RuntimeError, OSError) as exc:
                        why[target.name] = f"wrk: {exc}"
        run.report.raw["throughput"] = {
            name: {str(c): vars_of(r) for c, r in per.items()} for name, per in results.items()
        }
        for c in s.connections:
            _rows(run, c, results, why)
        _round_rows(run, rounds)
        _variant_rows(run, upstream, script)


def _measure(
    run: Run,
    url: str,
    script: Path,
    best: dict[int, wrk.WrkResult],
    rounds: list[wrk.WrkResult],
) -> None:
    """One round against one target: warm up, then each connection count."""
    s = run.settings
    if s.warmup_seconds:
        wrk.run(url, script, connections=32, seconds=s.warmup_seconds, core=run.load_core)
    for c in s.connections:
        result = wrk.run(url, script, connections=c, seconds=s.wrk_seconds, core=run.load_core)
        if c == 32:
            rounds.append(result)
        kept = best.get(c)
        if kept is None or (kept.is_clean and (not result.is_clean or result.rps > kept.rps)):
            best[c] = result


def vars_of(result: wrk.WrkResult) -> dict[str, object]:
    return {
        "rps": result.rps,
        "requests": result.requests,
        "seconds": result.seconds,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
    }


def _sanity(name: str, c: int, results: dict[str, dict[int, wrk.WrkResult]], family: str) -> str:
    mine = results[name][c]
    if not mine.is_clean:
        return f"not every request got 2xx: {mine.problems()}"
    direct = results.get(DIRECT, {}).get(c)
    if direct is None or not direct.is_clean:
        return "no clean run against the upstream directly"
    if family == "python" and direct.rps < HEADROOM * mine.rps:
        return f"upstream only {direct.rps / mine.rps:.1f}x faster (need {HEADROOM:.0f}x)"
    return ""


def _rows(
    run: Run, c: int, results: dict[str, dict[int, wrk.WrkResult]], why: dict[str, str]
) -> None:
    row = run.report.add(Row("throughput", f"req/s, {c} conns (x bare)"))
    bare = results.get(BARE, {}).get(c)
    bare_ok = bare is not None and not _sanity(BARE, c, results, "python")
    for target in main_targets(run.targets):
        name = target.name
        if name not in results:
            row.cells[name] = why.get(name, "not run")
            continue
        problem = _sanity(name, c, results, target.family)
        mine = results[name][c]
        if problem:
            row.cells[name] = f"{REFUSED}: {problem}"
            why[f"{name}@{c}"] = problem
            continue
        row.values[name] = mine.rps
        vs_bare = f" ({mine.rps / bare.rps:.2f}x)" if bare_ok and bare else ""
        row.cells[name] = f"{mine.rps:,.0f}{vs_bare}"
    if c != 32:
        return
    row.target = f"{ROUTER} >= {TARGET_RATIO} x {BARE}"
    if ROUTER not in results:
        row.status, row.why = UNAVAILABLE, why.get(ROUTER, "not run")
    elif ROUTER not in row.values or BARE not in row.values:
        row.status, row.why = REFUSED, why.get(f"{ROUTER}@{c}") or why.get(f"{BARE}@{c}", "")
    else:
        ratio = results[ROUTER][c].rps / results[BARE][c].rps
        row.status = MET if ratio >= TARGET_RATIO else MISSED
        row.why = f"{ratio:.2f}x"


def _round_rows(run: Run, rounds: dict[str, list[wrk.WrkResult]]) -> None:
    """Router / bare per round (the two ran minutes apart at most, in the same rotation):
    the median of the rounds' ratios of requests/s, and of p99 latency."""
    mine, bare = rounds.get(ROUTER, []), rounds.get(BARE, [])
    pairs = [(r, b) for r, b in zip(mine, bare, strict=False) if r.is_clean and b.is_clean]
    rps = run.report.add(Row("throughput", "router / bare, median of rounds, 32 conns"))
    rps.target = f">= {TARGET_RATIO}x (stretch {STRETCH_RATIO}x)"
    p99 = run.report.add(Row("throughput", "router p99 / bare p99, median of rounds"))
    p99.target = f"<= {P99_RATIO}x"
    if not pairs:
        for row in (rps, p99):
            row.status, row.why = UNAVAILABLE, "no clean round of both"
        return
    speed = [r.rps / b.rps for r, b in pairs]
    tail = [r.p99_ms / b.p99_ms for r, b in pairs if b.p99_ms]
    rps.why = describe_ratios(speed)
    rps.status = MET if statistics.median(speed) >= TARGET_RATIO else MISSED
    p99.why = describe_ratios(tail)
    p99.status = MET if tail and statistics.median(tail) <= P99_RATIO else MISSED
    for row, values in (
        (rps, [(r.rps, b.rps) for r, b in pairs]),
        (p99, [(r.p99_ms, b.p99_ms) for r, b in pairs]),
    ):
        row.values[ROUTER] = statistics.median(v[0] for v in values)
        row.values[BARE] = statistics.median(v[1] for v in values)
        row.cells[ROUTER] = f"{row.values[ROUTER]:,.1f}"
        row.cells[BARE] = f"{row.values[BARE]:,.1f}"


def describe_ratios(ratios: list[float]) -> str:
    """The median of per-round ratios with the count and range: "0.93x (5 rounds, 0.88-0.99)"."""
    if not ratios:
        return "no figure"
    middle = statistics.median(ratios)
    return f"{middle:.2f}x ({len(ratios)} rounds, {min(ratios):.2f}-{max(ratios):.2f})"


# Router variants compared in paired runs at 32 connections:
# (figure, numerator, denominator, target ratio or None for "report only").
VARIANT_ROWS = (
    # The first target again, taking turns on the core: unlike the interleaved
    # rounds above, it holds on a machine whose neighbours come and go.
    ("router / bare, paired (taking turns)", ROUTER, BARE, TARGET_RATIO),
    (
        "the same build twice: the method's own noise (router / router-again)",
        ROUTER,
        "router-again",
        None,
    ),
    ("metrics + access logs on (router / router-quiet)", ROUTER, "router-quiet", 0.9),
    ("keys, rpm, credits in memory (router-memory / router)", "router-memory", ROUTER, 0.9),
    ("same on Redis (router-redis / router-memory)", "router-redis", "router-memory", 0.85),
    ("two workers, one core (router-w2 / router-redis)", "router-w2", "router-redis", None),
    (
        "three replicas on one Redis vs one, one core (router-x3 / router-redis)",
        "router-x3",
        "router-redis",
        None,
    ),
    ("traces, sample_ratio 1 (router-traced / router)", "router-traced", ROUTER, None),
    ("traces, sample_ratio 0.01 (router-traced-1pct / router)", "router-traced-1pct", ROUTER, None),
)


def _variant_rows(run: Run, upstream: Server, script: Path) -> None:
    """One row per compared pair: the median of the rounds' ratios and their range."""
    raw = run.report.raw.setdefault("paired", {})
    for figure, top, bottom, target in VARIANT_ROWS:
        row = run.report.add(Row("throughput", figure))
        row.target = f">= {target}x" if target is not None else "(report)"
        if not {top, bottom} <= {t.name for t in run.targets}:
            row.status, row.why = UNAVAILABLE, "left out by --target"
            continue
        try:
            found = paired.measure(
                run,
                upstream,
                script,
                target_named(run.targets, top),
                target_named(run.targets, bottom),
            )
        except paired.PairUnavailable as exc:
            row.status, row.why = UNAVAILABLE, str(exc)
            continue
        raw[f"{top}/{bottom}"] = {
            "top": [asdict(s) for s in found.top],
            "bottom": [asdict(s) for s in found.bottom],
            "ratios": found.ratios,
        }
        if found.problems:
            row.status, row.why = REFUSED, found.problems
            continue
        for name, samples in ((top, found.top), (bottom, found.bottom)):
            middle = paired.median_sample(samples)
            row.values[name] = middle.rps
            row.cells[name] = (
                f"{middle.rps:,.0f} req/s taking turns, {middle.cpu_us:.0f} us CPU/req"
            )
        ratios = found.ratios
        row.why = f"{found.ratio:.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})"
        if target is not None:
            row.status = MET if found.ratio >= target else MISSED
        else:
            row.status = REPORTED
