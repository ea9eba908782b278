"""`python -m bench.compare BASE [HEAD]`: two builds of the router side by side, paired.

Each revision is checked out into a temporary git worktree (`git worktree add --detach`,
removed afterwards) and its router started from there, with `cwd` and `PYTHONPATH` on
that tree, so it runs its own code and not the tree the venv's editable install names.
Both get the benchmark's router config (metrics and access log on, `ROUTER_CONFIG` in
bench/targets.py) in front of one nginx upstream, and are compared with the paired
method of bench/paired.py: each loaded by its own wrk, taking turns on the proxy core.
The benchmark code is this checkout's; only the routers differ. Prints HEAD / BASE
requests/s (median of the rounds, and their range) and each build's CPU time per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench import paired, wrk
from bench.procs import Server
from bench.report import Report
from bench.runner import Run, repo_root
from bench.settings import QUICK
from bench.system import LOAD_CORE, PROXY_CORE, can_pin, free_port, raise_nofile
from bench.targets import ROUTER_CONFIG, Env, Target, _serve
from bench.throughput import describe_ratios

# Older revisions that reject a key of ROUTER_CONFIG (it grew with the router) get this
# one: the same two weighted backends, nothing else.
FALLBACK_CONFIG = """\
version: 1
server: {{host: 127.0.0.1, port: {port}}}
nodes:
  node62: {{url: "{upstream}", max_inflight: 10000}}
  node63: {{url: "{upstream}", max_inflight: 10000}}
models:
  gemini-2.5-flash:
    backends:
      - {{node: node62, weight: 3}}
      - {{node: node63, weight: 1}}
"""


@dataclass(frozen=True, slots=True)
class Build:
    """One revision checked out: its label for the output and its tree."""

    label: str  # e.g. "BASE ab89144"
    tree: Path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("base", metavar="BASE", help="the revision compared against")
    parser.add_argument("head", metavar="HEAD", nargs="?", default="HEAD", help="default HEAD")
    parser.add_argument("--rounds", type=int, default=6, help="paired rounds, even (default 6)")
    parser.add_argument("--seconds", type=int, default=4, help="per round (default 4)")
    args = parser.parse_args(argv)
    problem = check_rounds(args.rounds, args.seconds)
    if problem:
        parser.error(problem)
    return args


def check_rounds(rounds: int, seconds: int) -> str | None:
    """Why these counts cannot be used, or None."""
    if rounds < 2 or rounds % 2:
        return (
            f"--rounds must be even and at least 2 (got {rounds}): each build takes the "
            "first slice in half of them"
        )
    if seconds < 1:
        return f"--seconds must be at least 1 (got {seconds})"
    return None


def summary(base: str, head: str, found: paired.Paired) -> list[str]:
    """The lines printed for one comparison: the ratio first, then each build's figures."""
    lines = [f"{head} / {base}: {describe_ratios(found.ratios)}"]
    for label, samples in ((base, found.bottom), (head, found.top)):
        middle = paired.median_sample(samples)
        lines.append(
            f"  {label}: {middle.rps:,.0f} req/s taking turns, {middle.cpu_us:.0f} us CPU/req"
        )
    if found.problems:
        lines.append(f"  errors: {found.problems}")
    return lines


def resolve(repo: Path, rev: str) -> str:
    """The full commit id of `rev`; SystemExit naming it when git does not know it."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"bench.compare: {rev!r} is not a commit of {repo}")
    return done.stdout.strip()


@contextlib.contextmanager
def worktree(repo: Path, commit: str, folder: Path) -> Iterator[Path]:
    """`commit` checked out (detached) in `folder` until the block ends."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(folder), commit],
        cwd=repo,
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=repo, check=False)


def _in_tree(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


def imported_router(tree: Path) -> Path:
    """Where `import router` comes from when started as the bench starts it in `tree`."""
    done = _in_tree(tree, "-c", "import router; print(router.__file__)")
    return Path(done.stdout.strip())


def write_config(tree: Path, folder: Path, port: int, upstream: str) -> Path:
    """The first config the tree's `router check` accepts: ROUTER_CONFIG, else the fallback."""
    why = ""
    for number, template in enumerate((ROUTER_CONFIG, FALLBACK_CONFIG)):
        text = template.format(port=port, upstream=upstream, node_extra="")
        config = folder / f"{tree.name}-{port}-{number}.yaml"
        config.write_text(text)
        done = _in_tree(tree, "-m", "router", "check", str(config))
        if done.returncode == 0:
            return config
        why = (done.stderr or done.stdout)[-300:]
        print(f"bench.compare: {tree.name} rejects the bench's config, trying the fallback: {why}")
    raise paired.PairUnavailable(f"{tree.name}: no config accepted by `router check`: {why}")


def build_target(build: Build) -> Target:
    """A bench target that serves `build`'s router (its name is the label, spaces dashed)."""
    name = build.label.replace(" ", "-")

    @contextlib.contextmanager
    def start(env: Env, upstream: Server) -> Iterator[Server]:
        port = free_port()
        config = write_config(build.tree, env.workdir, port, upstream.url)
        with _serve(replace(env, repo=build.tree), name, config, port, ()) as server:
            yield server

    return Target(name, start)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repo = repo_root()
    commits = [resolve(repo, args.base), resolve(repo, args.head)]
    labels = [f"BASE {commits[0][:7]}", f"HEAD {commits[1][:7]}"]
    pin_problem = can_pin()
    settings = replace(QUICK, paired_rounds=args.rounds, paired_seconds=args.seconds)
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        builds = []
        for label, commit, folder in zip(labels, commits, ("base", "head"), strict=True):
            tree = stack.enter_context(worktree(repo, commit, Path(tmp) / folder))
            source = imported_router(tree)
            if not source.is_relative_to(tree):
                raise SystemExit(f"bench.compare: {label} would import {source}, not its tree")
            print(f"bench.compare: {label} runs {source.parent}", flush=True)
            builds.append(Build(label, tree))
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        run = Run(
            settings=settings,
            env=Env(workdir, None if pin_problem else PROXY_CORE, repo),
            targets=[build_target(b) for b in builds],
            report=Report(columns=labels),
            load_core=None if pin_problem else LOAD_CORE,
            nofile=raise_nofile(),
        )
        base, head = run.targets
        with run.json_upstream() as upstream:
            try:
                found = paired.measure(run, upstream, wrk.write_script(workdir), head, base)
            except paired.PairUnavailable as exc:
                raise SystemExit(f"bench.compare: {exc}") from exc
    print()
    for line in summary(labels[0], labels[1], found):
        print(line)
    load_after = os.getloadavg()
    print(f"  load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
