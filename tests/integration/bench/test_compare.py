"""`python -m bench.compare` runs two checkouts' routers end to end and cleans up after.

The same revision twice, 2 rounds of 1 s, so the run takes seconds: it shows that each
build is checked out into its own worktree and imports its own `router`, that the paired
rounds produce the ratio line, and that the worktrees are gone afterwards. The ratio
itself is never checked here.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration


def _worktrees() -> str:
    done = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_compare_runs_each_build_from_its_own_worktree_and_removes_them() -> None:
    command = [sys.executable, "-m", "bench.compare", "HEAD", "HEAD", "--rounds", "2"]
    done = subprocess.run(
        [*command, "--seconds", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-2000:] + done.stderr[-2000:]
    trees = re.findall(
        r"^bench\.compare: (BASE|HEAD) \w{7} runs (\S+)/(base|head)/router$", out, re.M
    )
    assert [(label, folder) for label, _, folder in trees] == [("BASE", "base"), ("HEAD", "head")]
    assert re.search(r"^HEAD \w{7} / BASE \w{7}: \d+\.\d\dx \(2 rounds, ", out, re.M), out
    assert re.search(r"^  BASE \w{7}: [\d,]+ req/s taking turns, \d+ us CPU/req$", out, re.M)
    temp = trees[0][1]
    assert temp not in _worktrees()
