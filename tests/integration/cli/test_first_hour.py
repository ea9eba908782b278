"""The operator's first hour (issue 17, items 11 and 13): a bad port, a port in use or a
question to `--help` gets a one-line answer (the loopback default: tests/config/)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

ROUTER = [sys.executable, "-m", "router"]


def _cli(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROUTER, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "mock-node"])
@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_out_of_range_is_refused(command: str, port: str) -> None:
    done = _cli(command, "--port", port)
    assert done.returncode == 2, done.stderr
    assert "--port" in done.stderr and "1 to 65535" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["serve", "mock-node"])
def test_a_port_in_use_is_one_line_not_a_traceback(command: str, taken_port: int) -> None:
    extra = ["--config", "routes.yaml"] if command == "serve" else []
    done = _cli(command, "--host", "127.0.0.1", "--port", str(taken_port), *extra)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    # One line in all: no log line before it that reads like a start (nodes ready ...).
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    wanted = f"cannot listen on 127.0.0.1:{taken_port}"
    assert len(lines) == 1 and wanted in lines[0] and "in use" in lines[0], lines


def test_help_names_every_command() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    head = done.stdout.split("positional arguments")[0]
    for command in ("serve", "check", "keys", "usage", "mock-node"):
        assert command in head, done.stdout
        assert command in done.stdout


def test_usage_prints_since_as_a_readable_time(tmp_path: object) -> None:
    done = _cli("usage", "--config", "routes.yaml", "--since", "1h")
    assert done.returncode == 0, done.stderr
    since = orjson.loads(done.stdout)["since"]
    assert isinstance(since, str) and since.endswith("Z") and "T" in since, since
