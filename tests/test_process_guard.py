"""The conftest guard: a test without the integration marker cannot start a process."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REFUSED = pytest.fail.Exception
MESSAGE = re.escape("without @pytest.mark.integration")


def test_subprocess_is_refused_without_the_marker() -> None:
    with pytest.raises(REFUSED, match=MESSAGE):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_asyncio_subprocesses_are_refused_without_the_marker() -> None:
    with pytest.raises(REFUSED, match=MESSAGE):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


@pytest.mark.parametrize("name", ["fork", "posix_spawn"])
def test_fork_and_spawn_are_refused_without_the_marker(name: str) -> None:
    with pytest.raises(REFUSED, match=re.escape(f"os.{name}")):
        getattr(os, name)(sys.executable, [sys.executable, "-c", "pass"], {})


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_multiprocessing_is_refused_without_the_marker(method: str) -> None:
    # spawn and forkserver start their interpreter with _posixsubprocess.fork_exec, past
    # both subprocess.Popen and os.fork.
    process = multiprocessing.get_context(method).Process(target=print)
    with pytest.raises(REFUSED, match=MESSAGE):
        process.start()


def test_os_system_is_refused_without_the_marker() -> None:
    with pytest.raises(REFUSED, match=re.escape("os.system")):
        os.system("true")


def test_an_unmarked_test_under_integration_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.mkpydir("integration")
    (pytester.path / "integration" / "test_forgotten.py").write_text("def test_x():\n    pass\n")
    (pytester.path / "test_pure.py").write_text("def test_y():\n    pass\n")
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*tests/integration/ holds the tests that start processes*"])


@pytest.mark.integration
def test_a_marked_test_may_start_a_process() -> None:
    done = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, check=True)
    assert done.stdout == b"ran\n"
