"""`router check FILE` on good and broken configs: exit codes, summary, located problems.

Each case runs the real command line (`python -m router check`) and checks its contract:
exit 0 with a summary on stdout, or exit 1 with one `FILE:LINE: yaml.path: message` line
per problem on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

UNSET = "ROUTER_TEST_SURELY_UNSET_VAR"

GOOD = """\
version: 1
server:
  max_body_mb: 32
defaults:
  timeouts: {connect: 1, first_byte: 30}
  retries: 1
  health: {path: /health/liveliness}
nodes:
  node62:
    url: http://127.0.0.1:9001
    api_key: ${ROUTER_TEST_KEY:-}
  node63:
    url: http://127.0.0.1:9002
    timeouts: {first_byte: 5}
    retries: 0
  node64:
    url: http://127.0.0.1:9003
models:
  gemini-2.5-flash:
    aliases: [gemini]
    backends:
      - {node: node62, weight: 3}
      - {node: node63, weight: 1}
      - {node: node64, priority: 1, model: gemini-2.5-flash-001}
    fallbacks: [gemini-2.5-pro]
  gemini-2.5-pro:
    strategy: least_inflight
    backends:
      - {node: node63}
  "gemini-*":
    backends:
      - {node: node64}
"""


def run_check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != UNSET}
    return subprocess.run(
        [sys.executable, "-m", "router", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**environ, **(env or {})},
        timeout=30,
        check=False,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing `needle`."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines of a failed check (the first line is the count)."""
    lines = result.stderr.strip().splitlines()
    return lines[1:]


def test_good_config_exits_0_with_a_summary(tmp_path):
    result = run_check(write(tmp_path, GOOD))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for name in ("node62", "node63", "node64", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-*"):
        assert name in out, name
    assert "75%" in out and "25%" in out  # the weights as a traffic split
    assert "gemini-2.5-flash-001" in out  # the renamed upstream model
    assert "tier 1" in out


def test_shipped_routes_yaml_is_valid():
    result = run_check(REPO_ROOT / "routes.yaml")
    assert result.returncode == 0, result.stderr
    assert "node62" in result.stdout


def test_unknown_node_names_its_path_and_line(tmp_path):
    text = GOOD.replace("{node: node63, weight: 1}", "{node: node99, weight: 1}")
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 1
    assert result.stdout == ""
    line = line_of(text, "node99")
    expected = f"{path}:{line}: models.gemini-2.5-flash.backends[1].node: unknown node 'node99'"
    assert problems(result) == [expected], result.stderr
    assert result.stderr.splitlines()[0].startswith(f"{path}: 1 problem")


def test_unknown_node_in_block_style_points_at_its_own_line(tmp_path):
    text = GOOD.replace(
        "      - {node: node63, weight: 1}\n", "      - weight: 1\n        node: node99\n"
    )
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 1
    line = line_of(text, "node: node99")
    assert problems(result) == [
        f"{path}:{line}: models.gemini-2.5-flash.backends[1].node: unknown node 'node99'"
    ]


@pytest.mark.parametrize(
    ("old", "new", "yaml_path", "meant"),
    [
        ("  max_body_mb: 32\n", "  max_body_mb: 32\n  prot: 8080\n", "server.prot", "port"),
        (
            "    timeouts: {first_byte: 5}\n",
            "    timeouts: {frist_byte: 5}\n",
            "nodes.node63.timeouts.frist_byte",
            "first_byte",
        ),
        (
            "    aliases: [gemini]\n",
            "    aliasses: [gemini]\n",
            "models.gemini-2.5-flash.aliasses",
            "aliases",
        ),
        ("version: 1\n", "version: 1\nmodles: {}\n", "modles", "models"),
    ],
    ids=["server", "node-timeouts", "model", "top-level"],
)
def test_unknown_key_is_an_error(tmp_path, old, new, yaml_path, meant):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 1
    key = yaml_path.rsplit(".", 1)[-1]
    line = line_of(text, key)
    expected = f"{path}:{line}: {yaml_path}: unknown key (did you mean {meant}?)"
    assert problems(result) == [expected], result.stderr


def test_missing_environment_variable_is_named(tmp_path):
    text = GOOD.replace("${ROUTER_TEST_KEY:-}", "${" + UNSET + "}")
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 1
    line = line_of(text, UNSET)
    [problem] = problems(result)
    assert problem.startswith(f"{path}:{line}: nodes.node62.api_key: ")
    assert UNSET in problem
    # Once the variable is set the same file is valid.
    assert run_check(path, env={UNSET: "secret"}).returncode == 0


def test_every_problem_is_listed(tmp_path):
    text = (
        GOOD.replace("{node: node63, weight: 1}", "{node: node99, weight: 0}")
        .replace("  max_body_mb: 32\n", "  max_body_mb: 32\n  prot: 8080\n")
        .replace("${ROUTER_TEST_KEY:-}", "${" + UNSET + "}")
        .replace("    strategy: least_inflight\n", "    strategy: fastest\n")
        .replace("fallbacks: [gemini-2.5-pro]", "fallbacks: [gemini-9]")
    )
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 1
    found = problems(result)
    assert result.stderr.splitlines()[0].startswith(f"{path}: 6 problems"), result.stderr
    expected = {
        ("prot", "server.prot: unknown key"),
        (UNSET, "nodes.node62.api_key: "),
        ("node99", "models.gemini-2.5-flash.backends[1].node: unknown node 'node99'"),
        ("node99", "models.gemini-2.5-flash.backends[1].weight: "),
        ("fastest", "models.gemini-2.5-pro.strategy: "),
        ("gemini-9", "models.gemini-2.5-flash.fallbacks[0]: unknown model 'gemini-9'"),
    }
    assert len(found) == len(expected), found
    for needle, start in expected:
        prefix = f"{path}:{line_of(text, needle)}: {start}"
        assert any(p.startswith(prefix) for p in found), (prefix, found)


def test_invalid_yaml_and_missing_file_exit_1(tmp_path):
    path = write(tmp_path, "version: 1\nnodes: [unclosed\n")
    result = run_check(path)
    assert result.returncode == 1
    assert f"{path}:" in result.stderr
    missing = run_check(tmp_path / "nope.yaml")
    assert missing.returncode == 1
    assert "nope.yaml" in missing.stderr


def test_serve_refuses_a_broken_config(tmp_path):
    path = write(tmp_path, GOOD.replace("{node: node63, weight: 1}", "{node: node99}"))
    result = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--config", str(path), "--port", "9"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown node 'node99'" in result.stderr


HEALTH_TRAPS = """\
version: 1
nodes:
  implicit: {url: "http://127.0.0.1:9001"}
  chosen: {url: "http://127.0.0.1:9002", health: {path: /health}}
  completes: {url: "http://127.0.0.1:9003", health: {path: /v1/chat/completions}}
  quiet: {url: "http://127.0.0.1:9004", health: false}
models:
  m: {backends: [{node: implicit}, {node: chosen}, {node: completes}, {node: quiet}]}
"""


def test_check_warns_about_health_paths_that_call_models(tmp_path):
    result = run_check(write(tmp_path, HEALTH_TRAPS))
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert [w.split(":")[1].strip() for w in warnings] == [
        "nodes.implicit.health",
        "nodes.completes.health",
    ], warnings
    assert "/health/liveliness" in warnings[0]


RESERVATION_GUESSES = """\
version: 1
nodes:
  n: {url: "http://127.0.0.1:9001", health: false}
models:
  guessed: {backends: [{node: n}], pricing: {completion_per_1k: 2}}
  capped:
    backends: [{node: n}]
    pricing: {completion_per_1k: 2}
    limits: {output_tokens: 8192}
  flat: {backends: [{node: n}], pricing: {pre_deduct: 5, completion_per_1k: 2}}
  free: {backends: [{node: n}]}
"""


def test_check_warns_when_a_reservation_guesses_the_output_cap(tmp_path):
    """A priced model without pre_deduct reserves a request's worst case; without
    limits.output_tokens a request that sets no max_tokens is reserved for 4096 tokens."""
    result = run_check(write(tmp_path, RESERVATION_GUESSES))
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: models.guessed.pricing: ")
    assert "4096" in warnings[0] and "limits.output_tokens" in warnings[0]


ONE_DIALECT = """\
version: 1
nodes:
  google: {url: "http://127.0.0.1:9001", dialect: gemini, health: false}
  both: {url: "http://127.0.0.1:9002", health: false}
models:
  gemini-only: {backends: [{node: google}]}
  mixed: {backends: [{node: google}, {node: both, priority: 1}]}
"""


def test_check_is_silent_about_a_model_served_in_one_dialect_only(tmp_path):
    """Translation takes OpenAI clients of a model served by Gemini-only nodes to them, so
    such a model is no config mistake: no warning (exit 0)."""
    result = run_check(write(tmp_path, ONE_DIALECT))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_closed_output_pipe_ends_check_quietly(tmp_path):
    nodes = "\n".join(f"  n{i}: {{url: 'http://127.0.0.1:9', health: false}}" for i in range(3000))
    path = write(
        tmp_path, f"version: 1\nnodes:\n{nodes}\nmodels:\n  m: {{backends: [{{node: n1}}]}}\n"
    )
    check = subprocess.Popen(
        [sys.executable, "-m", "router", "check", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert check.stdout is not None and check.stderr is not None
    check.stdout.readline()
    check.stdout.close()  # what `| head -1` does
    stderr = check.stderr.read().decode()
    check.stderr.close()
    check.wait(timeout=30)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
