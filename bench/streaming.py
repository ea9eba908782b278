"""Sections 3 and 5: per-chunk streaming delay (receive minus send) and time-to-first-byte.

The upstream stamps each of 40 chunks (10 ms apart) with time.time(); a client process on
the other core notes when each arrives, at 1 and at 100 concurrent streams.
"""

from __future__ import annotations

import math

from bench.clients import Load, StreamResult, run_streams
from bench.report import MET, MISSED, REFUSED, UNAVAILABLE, Row
from bench.runner import Run
from bench.stats import percentile
from bench.targets import BARE, DIRECT, ROUTER, main_targets

TARGET_P99_MS = 2.0
TARGET_VS_BARE = 1.2
DIRECT_P99_WARN_MS = 1.0  # above this the load core, not the proxy, dominates the delay


def run_section(run: Run, *, delay: bool = True, ttfb: bool = True) -> None:
    """Measure streams through every target; add delay and/or TTFB rows."""
    s = run.settings
    levels = s.stream_levels if delay else s.stream_levels[-1:]
    results: dict[str, dict[int, StreamResult]] = {}
    why: dict[str, str] = {}
    with run.sse_upstream(s.stream_chunks, s.stream_interval) as upstream:
        for target in main_targets(run.targets):
            with run.started(target, upstream) as server:
                if server is None:
                    why[target.name] = run.unavailable(target) or "not started"
                    continue
                print(f"bench: streaming {target.name}", flush=True)
                results[target.name] = {}
                for level in levels:
                    rounds = s.single_rounds if level == 1 else s.multi_rounds
                    warm = Load(streams=level, chunks=2, deadline=20)
                    load = Load(
                        streams=level,
                        ramp=0.0 if level == 1 else s.stream_interval,  # spread the ticks
                        chunks=s.stream_chunks,
                        rounds=rounds,
                        deadline=min(60.0, rounds * (s.stream_chunks * s.stream_interval + 2) + 10),
                    )
                    for each in (warm, load):
                        got = run_streams(
                            server.url,
                            each,
                            workdir=run.env.workdir,
                            core=run.load_core,
                            repo=run.env.repo,
                        )
                    results[target.name][level] = got
    run.report.raw["streaming"] = {
        name: {
            str(level): {
                "ok": r.ok,
                "errors": dict(r.errors),
                "delay_p50_ms": percentile(r.delays_ms, 50),
                "delay_p99_ms": percentile(r.delays_ms, 99),
                "ttfb_p50_ms": percentile(r.ttfb_ms, 50),
                "ttfb_p99_ms": percentile(r.ttfb_ms, 99),
                "chunks": len(r.delays_ms),
            }
            for level, r in per.items()
        }
        for name, per in results.items()
    }
    for name, per in results.items():
        for level, r in per.items():
            if r.error_count:
                why[f"{name}@{level}"] = (
                    f"{REFUSED}: {r.error_count} failed streams ({r.problems()})"
                )
    if delay:
        for level in levels:
            for pct in (50, 99):
                _delay_row(run, level, pct, results, why)
        _warn_if_load_bound(run, levels[-1], results)
    if ttfb:
        for pct in (50, 99):
            _ttfb_row(run, levels[-1], pct, results, why)


def _cell_or_why(
    name: str, level: int, results: dict[str, dict[int, StreamResult]], why: dict[str, str]
) -> StreamResult | str:
    if name not in results:
        return why.get(name, "not run")
    return why.get(f"{name}@{level}") or results[name][level]


def _delay_row(
    run: Run, level: int, pct: int, results: dict[str, dict[int, StreamResult]], why: dict[str, str]
) -> None:
    row = run.report.add(Row("streaming", f"chunk delay p{pct} @{level} streams, ms (x bare)"))
    for name in run.main_columns:
        got = _cell_or_why(name, level, results, why)
        if isinstance(got, str):
            row.cells[name] = got
            continue
        row.values[name] = percentile(got.delays_ms, pct)
    bare = row.values.get(BARE)
    for name, value in row.values.items():
        ratio = f" ({value / bare:.2f}x)" if bare and value is not None else ""
        row.cells[name] = f"{value:.3f}{ratio}"
    if pct != 99 or level != run.settings.stream_levels[-1]:
        return
    row.target = f"{ROUTER} <= {TARGET_P99_MS} ms and <= {TARGET_VS_BARE} x {BARE}"
    mine = row.values.get(ROUTER)
    if mine is None:
        text = row.cells.get(ROUTER, "not run")
        row.status = REFUSED if text.startswith(REFUSED) else UNAVAILABLE
        row.why = text
    elif bare is None:
        row.status, row.why = REFUSED, f"no clean bare pass-through run: {row.cells.get(BARE)}"
    else:
        ok = mine <= TARGET_P99_MS and mine <= TARGET_VS_BARE * bare
        row.status = MET if ok else MISSED
        row.why = f"{mine:.3f} ms, {mine / bare:.2f}x"


def _ttfb_row(
    run: Run, level: int, pct: int, results: dict[str, dict[int, StreamResult]], why: dict[str, str]
) -> None:
    row = run.report.add(Row("ttfb", f"first chunk p{pct} @{level} streams, ms added vs direct"))
    direct = _cell_or_why(DIRECT, level, results, why)
    base = None if isinstance(direct, str) else percentile(direct.ttfb_ms, pct)
    for name in run.main_columns:
        got = _cell_or_why(name, level, results, why)
        if isinstance(got, str):
            row.cells[name] = got
        elif name == DIRECT or base is None:
            row.cells[name] = f"{percentile(got.ttfb_ms, pct):.3f} ms"
        else:
            added = percentile(got.ttfb_ms, pct) - base
            row.values[name] = added
            row.cells[name] = f"{added:+.3f}"


def _warn_if_load_bound(run: Run, level: int, results: dict[str, dict[int, StreamResult]]) -> None:
    direct = results.get(DIRECT, {}).get(level)
    if direct is None:
        return
    p99 = percentile(direct.delays_ms, 99)
    if not math.isnan(p99) and p99 > DIRECT_P99_WARN_MS:
        run.report.note(
            f"direct chunk delay p99 at {level} streams is {p99:.2f} ms: the load core is busy, "
            "so proxy delays are overstated"
        )
