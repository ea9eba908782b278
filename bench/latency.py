"""Section 2, added latency: p50/p99 at one connection, each proxy minus the upstream directly."""

from __future__ import annotations

from bench import wrk
from bench.report import MET, MISSED, REFUSED, UNAVAILABLE, Row
from bench.runner import Run
from bench.targets import DIRECT, ROUTER, main_targets

TARGET_MS = {50: 0.3, 99: 1.5}


def run_section(run: Run) -> None:
    """One wrk connection per target; report percentiles as added milliseconds over direct."""
    script = wrk.write_script(run.env.workdir)
    results: dict[str, wrk.WrkResult] = {}
    why: dict[str, str] = {}
    with run.json_upstream() as upstream:
        for target in main_targets(run.targets):
            with run.started(target, upstream) as server:
                if server is None:
                    why[target.name] = run.unavailable(target) or "not started"
                    continue
                print(f"bench: latency {target.name}", flush=True)
                try:
                    if run.settings.warmup_seconds:
                        wrk.run(server.url, script, connections=1, seconds=1, core=run.load_core)
                    result = wrk.run(
                        server.url,
                        script,
                        connections=1,
                        seconds=run.settings.latency_seconds,
                        core=run.load_core,
                    )
                except (RuntimeError, OSError) as exc:
                    why[target.name] = f"wrk: {exc}"
                    continue
                if result.is_clean:
                    results[target.name] = result
                else:
                    why[target.name] = f"{REFUSED}: not every request got 2xx: {result.problems()}"
    run.report.raw["latency"] = {
        name: {
            "p50_ms": r.p50_ms,
            "p90_ms": r.p90_ms,
            "p99_ms": r.p99_ms,
            "requests": r.requests,
            "errors": r.errors,
        }
        for name, r in results.items()
    }
    direct = results.get(DIRECT)
    for pct in (50, 99):
        row = run.report.add(Row("latency", f"p{pct} @1 conn, ms added vs direct"))
        for name in run.main_columns:
            mine = results.get(name)
            if mine is None:
                row.cells[name] = why.get(name, "not run")
            elif name == DIRECT or direct is None:
                row.cells[name] = f"{_pct(mine, pct):.3f} ms"
            else:
                added = _pct(mine, pct) - _pct(direct, pct)
                row.values[name] = added
                row.cells[name] = f"{added:+.3f}"
        row.target = f"{ROUTER} <= +{TARGET_MS[pct]} ms"
        if direct is None:
            row.status, row.why = REFUSED, why.get(DIRECT, "no direct run")
        elif ROUTER not in row.values:
            row.status, row.why = UNAVAILABLE, why.get(ROUTER, "not run")
        else:
            router_added = row.values[ROUTER]
            assert router_added is not None  # set above with the router's cell
            row.status = MET if router_added <= TARGET_MS[pct] else MISSED
            row.why = f"{router_added:+.3f} ms"


def _pct(result: wrk.WrkResult, pct: int) -> float:
    return result.p50_ms if pct == 50 else result.p99_ms
