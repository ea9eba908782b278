"""Shared state of one benchmark run, and starting upstreams and targets without crashing."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import nginx
from bench.procs import Server, StartError, running
from bench.report import Report
from bench.settings import Settings
from bench.system import free_port, pinned
from bench.targets import Env, Target, main_targets, missing_requirement


@dataclass(slots=True)
class Run:
    """Settings, where processes run, the targets (columns) and the report being built."""

    settings: Settings
    env: Env
    targets: list[Target]
    report: Report
    load_core: int | None
    nofile: tuple[int, int]  # (soft, hard) RLIMIT_NOFILE after raising it
    missing_tools: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # target -> why it did not start

    @property
    def main_columns(self) -> list[str]:
        """The columns every section fills: references and the router, not its variants."""
        return [t.name for t in main_targets(self.targets)]

    def unavailable(self, target: Target) -> str | None:
        """Why `target` cannot be measured in this run (None: try it)."""
        if target.name in self.failures:
            return self.failures[target.name]
        missing = missing_requirement(target)
        if missing:
            detail = self.missing_tools.get(target.requires[0], missing)
            return f"{target.name} not available: {detail}"
        return None

    @contextlib.contextmanager
    def started(self, target: Target, upstream: Server) -> Iterator[Server | None]:
        """Start `target` in front of `upstream`; yield None (and remember why) if it cannot."""
        why = self.unavailable(target)
        if why:
            yield None
            return
        with contextlib.ExitStack() as stack:
            try:
                server = stack.enter_context(target.start(self.env, upstream))
            except (StartError, OSError) as exc:
                why = f"{target.name} not available: {exc}"
                self.failures[target.name] = why
                self.report.note(why)
                server = None
            yield server

    def json_upstream(self) -> contextlib.AbstractContextManager[Server]:
        """nginx answering a fixed chat.completion, on the load core."""
        port = free_port()
        conf = nginx.upstream_conf(self.env.workdir / f"nginx-upstream-{port}", port)
        return running(
            "nginx-upstream",
            nginx.command(conf, self.load_core),
            port=port,
            workdir=self.env.workdir,
        )

    def sse_upstream(
        self, chunks: int, interval: float
    ) -> contextlib.AbstractContextManager[Server]:
        """bench.sse_upstream streaming stamped chunks, on the load core."""
        port = free_port()
        cmd = [sys.executable, "-m", "bench.sse_upstream", "--port", str(port)]
        cmd += ["--chunks", str(chunks), "--interval", str(interval)]
        return running(
            "sse-upstream",
            pinned(cmd, self.load_core),
            port=port,
            workdir=self.env.workdir,
            cwd=self.env.repo,
        )


def repo_root() -> Path:
    """Repository root (bench/ lives directly under it)."""
    return Path(__file__).resolve().parent.parent
