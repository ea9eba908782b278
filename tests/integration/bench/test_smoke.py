"""`python -m bench` runs end to end and writes its JSON and Markdown results.

One section (latency) and two columns (the upstream directly, and the router) in smoke
mode, so the run takes seconds: it shows the command line, the processes, wrk, the report
and the files work together. Every section, target and figure is left to `make bench`;
timings are never checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

STATUSES = {"met", "missed", "refused", "unavailable", "reported"}


COMMAND = (
    "-m",
    "bench",
    "--smoke",
    "--only",
    "latency",
    "--target",
    "direct",
    "--target",
    "router",
)


def test_bench_smoke_writes_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, *COMMAND, "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("# Router benchmark")
    assert {"meta", "columns", "rows", "targets", "notes", "sections", "table"} <= result.keys()
    assert result["meta"]["mode"] == "smoke" and result["meta"]["sections"] == ["latency"]
    assert result["columns"] == ["direct", "router"]
    rows = result["rows"]
    assert [row["figure"] for row in rows] == [
        "p50 @1 conn, ms added vs direct",
        "p99 @1 conn, ms added vs direct",
    ]
    assert all(row["section"] == "latency" for row in rows)
    assert result["targets"], "no target was checked"
    assert all(check["status"] in STATUSES for check in result["targets"])
    assert len(result["table"]) == len(rows) + 1
