"""`python -m bench --smoke` runs end to end and writes the JSON result (never checks timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT as REPO

pytestmark = pytest.mark.integration

STATUSES = {"met", "missed", "refused", "unavailable", "reported"}


@pytest.mark.slow
def test_bench_smoke_writes_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("# Router benchmark")
    assert {"meta", "columns", "rows", "targets", "notes", "sections", "table"} <= result.keys()
    assert result["meta"]["mode"] == "smoke"
    assert {"direct", "bare", "router"} <= set(result["columns"])
    assert {"throughput", "latency", "streaming", "concurrency", "routing"} <= result[
        "sections"
    ].keys()
    sections = {row["section"] for row in result["rows"]}
    assert {"throughput", "latency", "streaming", "ttfb", "concurrency", "routing"} <= sections
    assert result["targets"], "no target was checked"
    assert all(check["status"] in STATUSES for check in result["targets"])
    assert len(result["table"]) == len(result["rows"]) + 1
    # The metrics + logs cost is a paired comparison: one ratio per pair of runs.
    pair = result["sections"]["paired"]["router/router-quiet"]
    assert len(pair["ratios"]) == len(pair["top"]) == len(pair["bottom"]) == 1
    costs = [r for r in result["rows"] if r["figure"].startswith("metrics + access logs")]
    assert [r["status"] for r in costs] in (["met"], ["missed"])
