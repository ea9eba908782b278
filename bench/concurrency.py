"""Section 4: thousands of slow streams held open at once through one proxy process.

The upstream sends one chunk per second; two client processes open the streams over a
short ramp so that all of them overlap. We sample the proxy's RSS while they run and
report errors, peak RSS and (peak - idle) / streams.
"""

from __future__ import annotations

import time
from typing import Any

from bench.clients import Load, StreamResult, run_streams
from bench.procs import Server
from bench.report import MET, MISSED, REFUSED, UNAVAILABLE, Row
from bench.runner import Run
from bench.stats import peak_overlap
from bench.system import tree_hwm_kib, tree_rss_kib
from bench.targets import BARE, ROUTER, main_targets

TARGET_VS_BARE = 1.1  # issue 32: RSS per open stream within 1.1x bare


def fds_needed(streams: int) -> int:
    """File descriptors a proxy needs: one per client and one per upstream connection."""
    return 2 * streams + 200


def run_section(run: Run) -> None:
    """Hold `hold_streams` streams through each Python proxy; fill the concurrency rows."""
    s = run.settings
    soft, hard = run.nofile
    if hard < fds_needed(s.hold_streams):
        run.report.note(
            f"RLIMIT_NOFILE hard limit is {hard}, lower than the ~{fds_needed(s.hold_streams)} "
            f"a proxy needs for {s.hold_streams} streams: expect errors"
        )
    stats: dict[str, dict[str, float]] = {}
    why: dict[str, str] = {}
    proxies = [t for t in main_targets(run.targets) if t.family == "python"]
    with run.sse_upstream(s.hold_chunks, s.hold_interval) as upstream:
        for target in proxies:
            with run.started(target, upstream) as server:
                if server is None:
                    why[target.name] = run.unavailable(target) or "not started"
                    continue
                print(f"bench: concurrency {target.name} ({s.hold_streams} streams)", flush=True)
                stats[target.name] = _hold(run, server)
    run.report.raw["concurrency"] = {"streams": s.hold_streams, "nofile": [soft, hard], **stats}
    _rows(run, stats, why)


def _hold(run: Run, server: Server) -> dict[str, Any]:
    s = run.settings
    warm = Load(streams=2, chunks=1, deadline=20)
    run_streams(server.url, warm, workdir=run.env.workdir, core=run.load_core, repo=run.env.repo)
    time.sleep(0.5)
    idle = tree_rss_kib(server.pid)
    peak = [idle]

    def sample() -> None:
        peak[0] = max(peak[0], tree_rss_kib(server.pid))

    load = Load(
        streams=s.hold_streams,
        chunks=s.hold_chunks,
        ramp=s.hold_ramp,
        deadline=s.hold_deadline,
        clients=s.hold_clients,
        delays=False,
    )
    got: StreamResult = run_streams(
        server.url,
        load,
        workdir=run.env.workdir,
        core=run.load_core,
        repo=run.env.repo,
        tick=sample,
    )
    peak_kib = max(peak[0], tree_hwm_kib(server.pid))
    return {
        "ok": got.ok,
        "errors": got.error_count,
        "error_kinds": dict(got.errors),
        "open_at_once": peak_overlap(got.intervals),
        "idle_kib": idle,
        "peak_kib": peak_kib,
        "kib_per_stream": (peak_kib - idle) / max(peak_overlap(got.intervals), 1),
    }


def _rows(run: Run, stats: dict[str, dict[str, Any]], why: dict[str, str]) -> None:
    n = run.settings.hold_streams
    rows = {
        "errors": run.report.add(Row("concurrency", f"{n} streams: failed / open at once")),
        "peak": run.report.add(Row("concurrency", "peak RSS, MiB (idle)")),
        "per": run.report.add(Row("concurrency", "RSS per stream, KiB (x bare)")),
    }
    bare = stats.get(BARE)
    for name in run.main_columns:
        st = stats.get(name)
        if st is None:
            rows["errors"].cells[name] = why.get(name, "-")
            continue
        rows["errors"].cells[name] = f"{st['errors']} / {st['open_at_once']}"
        rows["peak"].cells[name] = f"{st['peak_kib'] / 1024:.0f} ({st['idle_kib'] / 1024:.0f})"
        ratio = ""
        if bare and bare["kib_per_stream"] > 0:
            ratio = f" ({st['kib_per_stream'] / bare['kib_per_stream']:.2f}x)"
        rows["per"].cells[name] = f"{st['kib_per_stream']:.1f}{ratio}"
        rows["per"].values[name] = st["kib_per_stream"]
    row = rows["per"]
    row.target = f"{ROUTER}: 0 errors, all open at once, <= {TARGET_VS_BARE} x {BARE}"
    mine = stats.get(ROUTER)
    if mine is None:
        row.status, row.why = UNAVAILABLE, why.get(ROUTER, "not run")
    elif mine["errors"]:
        row.status, row.why = MISSED, f"{mine['errors']} failed streams: {mine['error_kinds']}"
    elif mine["open_at_once"] < n:
        row.status, row.why = REFUSED, f"only {mine['open_at_once']} of {n} streams open at once"
    elif bare is None or bare["errors"] or bare["open_at_once"] < n or bare["kib_per_stream"] <= 0:
        row.status, row.why = REFUSED, "no clean bare pass-through run to compare with"
    else:
        ratio = mine["kib_per_stream"] / bare["kib_per_stream"]
        row.status = MET if ratio <= TARGET_VS_BARE else MISSED
        row.why = f"0 errors, {ratio:.2f}x"
