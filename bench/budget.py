"""Section budget: the router's CPU time per request, split by stage, from a profile.

Each router variant (defaults, keys + credits in memory, the same on Redis) is loaded
by wrk at 32 connections while py-spy samples its Python stacks (`--nonblocking`: the
router is never paused) and /proc counts its CPU time. Every sample is given to one
stage: the innermost frame of its stack that a rule below names decides (so time in
aiohttp's response writer under the relay counts as relay, and a stack no rule names is
the event loop's own work: polling, transports, callbacks). A stage's share of the
samples times the CPU microseconds per request is its budget. A regression then points
at its stage; the shares are a sampling estimate (about 2,000 samples per variant),
good to a percent or two of the total.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench import wrk
from bench.report import REPORTED, UNAVAILABLE, Row
from bench.runner import Run
from bench.system import tree_cpu_seconds
from bench.targets import ROUTER, target_named

VARIANTS = (ROUTER, "router-memory", "router-redis")
CONNECTIONS = 32
RATE = 250  # samples per second

# (stage, frame pattern), a frame being "function (path)". The innermost frame that
# names a stage decides; only a stack with none falls back to GENERIC (code of the
# request handler, or aiohttp's own request machinery), and one matching neither is
# the event loop's.
STAGES: tuple[tuple[str, str], ...] = (
    (
        "accept/parse",
        r"^(RequestHandler\.(data_received|start)|Pipeline\._body|\w+Call\.read|"
        r"UrlDispatcher\.resolve|BaseRequest\.__init__)\b",
    ),
    ("authenticate", r"^(presented_key|Billing\.(check_key|require_key|authenticate))\b"),
    ("admit", r"^(Billing\.(admit|_guarded)|\w+StateStore\.(admit|_admit\w*))\b"),
    ("choose", r"\(router/(proxy/plan|routing/\w+)\.py\)"),
    (
        "connect/send",
        r"^(open_response|_open|HttpTransport\.post|NodeClient\.(post|_send)|"
        r"Connection\.send|to_node)\b",
    ),
    (
        "first byte",
        r"^(Connection\.(data_received|on_\w+)|NodeClient\._head|HttpResponse\.read)\b",
    ),
    (
        "relay",
        r"^(Relay\.|_whole|AiohttpClientStream\.|UsageTap\.|RequestHandler\.finish_response)|"
        r"\(aiohttp/(web_response|http_writer)\.py\)",
    ),
    (
        "settle",
        r"^(Settler\.|\w+StateStore\.(settle\w*|_settle\w*|_finish)|JsonlLedger\.)",
    ),
    ("state backend I/O", r"\(router/billing/state/pipeline\.py\)|\(redis/"),
    ("observe", r"\(router/observability/"),
)
GENERIC: tuple[tuple[str, str], ...] = (
    ("handler (rest)", r"\(router/(web|proxy|billing|dialects|upstream|server/app)"),
    ("accept/parse", r"\(aiohttp/"),
)
LOOP = "event loop, I/O callbacks"
ORDER = list(dict.fromkeys([stage for stage, _ in STAGES + GENERIC] + [LOOP]))
_RULES = tuple((stage, re.compile(pattern)) for stage, pattern in STAGES)
_GENERIC = tuple((stage, re.compile(pattern)) for stage, pattern in GENERIC)


def frame_name(frame: str) -> str:
    """`function (path)`: py-spy's frame without its line number (its paths are already
    relative to sys.path: router/..., aiohttp/...)."""
    return re.sub(r":\d+\)$", ")", frame)


def stage_of(frames: list[str]) -> str:
    """The stage of one sampled stack (outermost frame first), frames as py-spy names them."""
    frames = [frame_name(frame) for frame in frames]
    for rules in (_RULES, _GENERIC):
        for frame in reversed(frames):
            for stage, rule in rules:
                if rule.search(frame):
                    return stage
    return LOOP


def stage_counts(lines: Iterable[str]) -> Counter[str]:
    """Samples per stage from py-spy's raw (collapsed) output: `frame;frame;... count`."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[stage_of(stack.split(";"))] += int(count)
    return counts


def run_section(run: Run) -> None:
    """One row per stage (and a total): microseconds of CPU per request per variant."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    names = [n for n in VARIANTS if n in {t.name for t in run.targets}]
    budgets: dict[str, tuple[float, Counter[str]]] = {}
    why: dict[str, str] = {}
    script = wrk.write_script(run.env.workdir)
    seconds = max(run.settings.wrk_seconds * 2, 2)
    with run.json_upstream() as upstream:
        for name in names:
            with run.started(target_named(run.targets, name), upstream) as server:
                if server is None:
                    why[name] = run.unavailable(target_named(run.targets, name)) or "not started"
                    continue
                print(f"bench: budget {name}", flush=True)
                try:
                    budgets[name] = _profile(run, spy, server.pid, server.url, script, seconds)
                except (RuntimeError, OSError) as exc:
                    why[name] = str(exc)
    run.report.raw["budget"] = {
        name: {"cpu_us": cpu, "samples": dict(counts)} for name, (cpu, counts) in budgets.items()
    }
    _rows(run, names, budgets, why)


def _profile(
    run: Run, spy: str, pid: int, url: str, script: Path, seconds: int
) -> tuple[float, Counter[str]]:
    """CPU microseconds per request under load, and the profile's samples per stage."""
    wrk.run(url, script, connections=CONNECTIONS, seconds=1, core=run.load_core)  # warm up
    out = run.env.workdir / f"budget-{pid}.txt"
    cmd = [spy, "record", "--nonblocking", "-r", str(RATE), "-d", str(seconds)]
    cmd += ["-f", "raw", "-o", str(out), "-p", str(pid)]
    sampler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = tree_cpu_seconds(pid)
    result = wrk.run(url, script, connections=CONNECTIONS, seconds=seconds, core=run.load_core)
    used = tree_cpu_seconds(pid) - before
    _, err = sampler.communicate(timeout=seconds + 30)
    if sampler.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-200:]}")
    if not result.is_clean:
        raise RuntimeError(f"not every request got 2xx: {result.problems()}")
    counts = stage_counts(out.read_text().splitlines())
    return 1e6 * used / result.requests, counts


def _rows(
    run: Run,
    names: list[str],
    budgets: dict[str, tuple[float, Counter[str]]],
    why: dict[str, str],
) -> None:
    for stage in [*ORDER, "total"]:
        row = run.report.add(Row("budget", f"CPU us/request: {stage}"))
        row.target, row.status = "(report)", REPORTED
        for name in names:
            if name not in budgets:
                row.cells[name] = why.get(name, "not run")
                row.status, row.why = UNAVAILABLE, why.get(name, "")
                continue
            cpu, counts = budgets[name]
            share = 1.0 if stage == "total" else counts[stage] / max(sum(counts.values()), 1)
            row.values[name] = cpu * share
            row.cells[name] = f"{cpu * share:.0f}" + ("" if stage == "total" else f" ({share:.0%})")
