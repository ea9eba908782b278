"""The conftest guard: a test without the integration marker cannot start a process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

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


@pytest.mark.integration
def test_a_marked_test_may_start_a_process() -> None:
    done = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, check=True)
    assert done.stdout == b"ran\n"
