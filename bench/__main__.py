"""`python -m bench`: run the sections, print one table, write bench/results/latest.{json,md}."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import concurrency, hostile, latency, routing, streaming, throughput, translation
from bench.report import Report
from bench.runner import Run, repo_root
from bench.settings import MODES
from bench.system import LOAD_CORE, PROXY_CORE, can_pin, ensure_tools, raise_nofile
from bench.targets import Env, default_targets

SECTIONS: dict[str, Callable[[Run], None]] = {
    "throughput": throughput.run_section,
    "latency": latency.run_section,
    "streaming": lambda run: streaming.run_section(run, delay=True, ttfb=False),
    "ttfb": lambda run: streaming.run_section(run, delay=False, ttfb=True),
    "concurrency": concurrency.run_section,
    "routing": routing.run_section,
    "hostile": hostile.run_section,
    "translation": translation.run_section,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny counts, no pinning (for tests)")
    mode.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=repo_root() / "bench" / "results",
        help="folder for latest.json and latest.md",
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=[t.name for t in default_targets()],
        metavar="NAME",
        help="measure only this column (repeatable; the others are left out of the table)",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep configs and logs")
    return parser.parse_args(argv)


def plan(names: list[str] | None) -> list[Callable[[Run], None]]:
    """The section functions to call; streaming and ttfb share one run when both are wanted."""
    wanted = names or list(SECTIONS)
    steps: list[Callable[[Run], None]] = []
    for name in SECTIONS:
        if name not in wanted:
            continue
        if name == "streaming" and "ttfb" in wanted:
            steps.append(streaming.run_section)
        elif name == "ttfb" and "streaming" in wanted:
            continue
        else:
            steps.append(SECTIONS[name])
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every started server is resumed (bench/paired.py
    # stops them in turns) and stopped, and the temp folder removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    settings = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    nofile = raise_nofile()
    targets = [t for t in default_targets() if not args.target or t.name in args.target]
    report = Report(columns=[t.name for t in targets])
    missing = ensure_tools()
    for tool, why in missing.items():
        report.note(f"{tool} unavailable: {why}")
    pin_problem = can_pin() if settings.pin else "not pinned in smoke mode"
    if settings.pin and pin_problem:
        report.note(f"running unpinned: {pin_problem}")
    pinning = (
        f"proxies on core {PROXY_CORE}, load and upstreams on core {LOAD_CORE} (taskset)"
        if not pin_problem
        else f"unpinned ({pin_problem})"
    )
    started = time.time()
    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        report.note(
            f"machine busy before the run (load average {load_before:.2f}): noisier figures"
        )
    report.meta = {
        "mode": settings.mode,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "pinning": pinning,
        "nofile": {"soft": nofile[0], "hard": nofile[1]},
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "sections": args.only or list(SECTIONS),
    }
    print(
        f"bench: {settings.mode} run, {pinning}; RLIMIT_NOFILE {nofile[0]}/{nofile[1]}", flush=True
    )
    tmp = tempfile.mkdtemp(prefix="bench-")
    try:
        run = Run(
            settings=settings,
            env=Env(
                workdir=Path(tmp), proxy_core=None if pin_problem else PROXY_CORE, repo=repo_root()
            ),
            targets=targets,
            report=report,
            load_core=None if pin_problem else LOAD_CORE,
            nofile=nofile,
            missing_tools=missing,
        )
        for step in plan(args.only):
            step(run)
    finally:
        if args.keep_temp:
            report.note(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report.meta["seconds"] = round(time.time() - started, 1)
    report.meta["loadavg"] = {"before": load_before, "after": os.getloadavg()[0]}
    print()
    print(report.text())
    json_path, md_path = report.write(args.out)
    print(f"\nbench: wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
