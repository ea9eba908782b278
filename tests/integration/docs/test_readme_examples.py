"""Every example in README.md and in the docs/ pages runs as shown (issues 17 and 30).

Each fenced block of the README and of every docs/*.md page is one test case;
tests/readme_blocks.py describes the conventions a block follows (languages, the
fragment marker, console output) and how commands are rewritten to this test's loopback
ports. The commands run against real processes: the docs' three mock nodes (`router
mock-node`: node62 and node63 of the shipped routes.yaml, node64 of "Add a node"), a
router started by this test with the shipped routes.yaml (or that file with a section's
fragment merged in), and Debian's redis-server when a fragment asks for the Redis backend.

A command that is not run is in SKIPPED below, with the reason; a skipped `make` target
must still exist in the Makefile, and a skipped `router` command must parse.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import yaml

from router.cli.main import build_parser
from tests.support import (
    REPO_ROOT,
    MockNodes,
    Proc,
    RedisServer,
    chat_body,
    free_port,
    http_request,
    router_launch,
    start_all,
    stop_all,
)
from tests.support.readme_blocks import (
    FRAGMENT_MARKER,
    KINDS,
    Block,
    blocks,
    console_steps,
    documents,
    merged,
    output_matches,
    rewrite,
    series,
    shape,
    shell_commands,
)

pytestmark = pytest.mark.integration

BLOCKS = [
    block
    for path in documents(REPO_ROOT)
    for block in blocks(path, path.relative_to(REPO_ROOT).as_posix())
]
SHIPPED = (REPO_ROOT / "routes.yaml").read_text(encoding="utf-8")

# The variables the docs' examples read, set as an operator following them would have
# them: `make run` exports ROUTER_ADMIN_TOKEN; the keys examples read TEAM_A_KEY.
EXAMPLE_ENV = {"ROUTER_ADMIN_TOKEN": "demo-admin-token", "TEAM_A_KEY": "sk-readme-team-a"}
# The full routes.yaml example also reads the node's key (the broken-file example shows
# what `router check` says when it is not set, so the commands run without it).
FULL_CONFIG_ENV = {**EXAMPLE_ENV, "NODE62_API_KEY": "node62-key-for-the-readme"}
UNSET = ("NODE62_API_KEY", "ROUTER_URL")

# Commands not run, and why. Everything else in an sh or console block is run.
SKIPPED = {
    "make run": "runs until Ctrl-C; this test starts the same two mock nodes and router itself",
    "make test": "the whole suite, this test included, and it installs system packages",
    "make test-unit": "the unit tests: a suite of its own, not an example inside one",
    "make lint": "ruff and mypy over the tree: run after the tests, not inside them",
    "router mock-node --port 9003 --name node64": (
        "runs until Ctrl-C; this test starts the same mock node itself (Add a node)"
    ),
    'claude -p "What does README.md say about make test?" --output-format json': (
        "Claude Code is not installed for the docs (tests/integration/sdk/test_claude_code.py"
        " runs it against a router)"
    ),
    ". .venv/bin/activate": "the reader's set-up: run_shell puts this checkout's router first",
    "export ROUTER_ADMIN_TOKEN=demo-admin-token": "the reader's set-up: EXAMPLE_ENV sets it",
}


@dataclass
class Site:
    """One router the examples of a config run against, and where their commands run."""

    proc: Proc
    workdir: Path
    addresses: dict[str, str]

    @property
    def url(self) -> str:
        return self.proc.base_url


class Sites:
    """The docs' mock nodes, and one router per config (started on first use)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes = MockNodes(tmp)
        self._redis: RedisServer | None = None
        self._sites: dict[str | None, Site] = {}

    def get(self, fragment: str | None) -> Site:
        site = self._sites.get(fragment)
        if site is None:
            site = self._sites[fragment] = self._start(fragment, len(self._sites))
        return site

    def _start(self, fragment: str | None, number: int) -> Site:
        if not self.nodes.nodes:
            self.nodes.start({"node62": (), "node63": (), "node64": ()})
        port = free_port()
        addresses = {
            "127.0.0.1:8080": f"127.0.0.1:{port}",
            "localhost:8080": f"127.0.0.1:{port}",
            "port: 8080": f"port: {port}",
            "127.0.0.1:9001": self.nodes["node62"].url.removeprefix("http://"),
            "127.0.0.1:9002": self.nodes["node63"].url.removeprefix("http://"),
            "127.0.0.1:9003": self.nodes["node64"].url.removeprefix("http://"),
        }
        text = SHIPPED if fragment is None else config_with(fragment)
        if "backend: redis" in text:
            addresses["127.0.0.1:6379"] = f"127.0.0.1:{self.redis().port}"
        workdir = self.tmp / f"site-{number}"
        workdir.mkdir()
        config = workdir / "routes.yaml"
        config.write_text(rewrite(text, addresses), encoding="utf-8")
        launch = router_launch(config, log_dir=workdir, port=port, env=EXAMPLE_ENV)
        return Site(start_all([launch])[0], workdir, addresses)

    def redis(self) -> RedisServer:
        """A redis-server for the examples that use the Redis backend (started once)."""
        if self._redis is None:
            self._redis = RedisServer(self.tmp)
            self._redis.start()
        return self._redis

    def stop(self) -> None:
        stop_all([site.proc for site in self._sites.values()])
        self.nodes.stop()
        if self._redis is not None:
            self._redis.stop()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    started = Sites(tmp_path_factory.mktemp("readme"))
    try:
        yield started
    finally:
        started.stop()


def config_with(fragment: str) -> str:
    """The shipped routes.yaml with a docs fragment merged in."""
    return yaml.safe_dump(
        merged(yaml.safe_load(SHIPPED), yaml.safe_load(fragment)), sort_keys=False
    )


def run_shell(script: str, site: Site, *, strict: bool) -> subprocess.CompletedProcess[str]:
    """A docs command in bash, as a terminal in the example's folder runs it."""
    prelude = 'router() { "$README_PYTHON" -m router "$@"; }\npython() { "$README_PYTHON" "$@"; }\n'
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(EXAMPLE_ENV, README_PYTHON=sys.executable, PYTHONPATH=str(REPO_ROOT))
    options = ["-euo", "pipefail"] if strict else ["-o", "pipefail"]
    return subprocess.run(
        ["bash", *options, "-c", prelude + rewrite(script, site.addresses)],
        cwd=site.workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )


def router_check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "-m", "router", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**env, **FULL_CONFIG_ENV},
        timeout=30,
        check=False,
    )


def test_every_block_names_a_known_language() -> None:
    unknown = [b.id for b in BLOCKS if b.lang not in KINDS]
    assert not unknown, f"tag these blocks with one of {sorted(KINDS)}: {unknown}"


RUNNABLE = [b for b in BLOCKS if b.lang != "text"]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_readme_example(block: Block, sites: Sites, tmp_path: Path) -> None:
    if block.lang == "yaml":
        check_yaml(block, tmp_path)
    elif block.lang in ("sh", "bash"):
        check_sh(block, sites)
    elif block.lang == "console":
        check_console(block, sites)
    elif block.lang == "python":
        check_python(block, sites)
    elif block.lang == "json":
        check_json(block, sites)
    elif block.lang == "promql":
        check_promql(block, sites)
    else:
        pytest.fail(f"{block.id}: no check for a {block.lang or 'untagged'} block; tag it")


def check_yaml(block: Block, tmp_path: Path) -> None:
    """A whole routes.yaml passes `router check` as it is; a fragment once merged in."""
    text = block.text
    if not block.is_full_config:
        assert block.marker == FRAGMENT_MARKER, f"{block.id}: mark the fragment {FRAGMENT_MARKER}"
        text = config_with(block.text)
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    done = router_check(path)
    assert done.returncode == 0, f"{block.id}: router check failed:\n{done.stderr}"
    assert done.stderr == "", f"{block.id}: router check warns:\n{done.stderr}"


def check_sh(block: Block, sites: Sites) -> None:
    commands = shell_commands(block.text)
    skipped = [c for c in commands if c in SKIPPED]
    if skipped:
        assert skipped == commands, f"{block.id}: split run and skipped commands: {commands}"
        makefile = (REPO_ROOT / "Makefile").read_text()
        for command in skipped:
            if command.startswith("make "):
                target = command.removeprefix("make ")
                assert re.search(rf"(?m)^{re.escape(target)}:", makefile), f"no target {target}"
            elif command.startswith("router "):  # still one the CLI takes
                build_parser().parse_args(shlex.split(command.removeprefix("router ")))
            elif command.startswith("export "):  # what run_shell sets the same way
                name, _, value = command.removeprefix("export ").partition("=")
                assert EXAMPLE_ENV.get(name) == value, f"{command}: EXAMPLE_ENV has another"
            elif command.startswith("claude "):  # Claude Code: test_claude_code.py runs it
                assert (REPO_ROOT / "tests/claude_code/package.json").is_file(), command
            else:  # sourcing the virtualenv `make run` made
                assert (REPO_ROOT / command.removeprefix(". ")).is_file(), command
        return
    done = run_shell(block.text, sites.get(block.fragment), strict=True)
    assert done.returncode == 0, f"{block.id} exited {done.returncode}:\n{done.stdout}"


def check_console(block: Block, sites: Sites) -> None:
    site = sites.get(block.fragment)
    for step in console_steps(block.text):
        done = run_shell(step.command, site, strict=False)
        assert done.returncode == 0, (
            f"{block.id}: `{step.command}` exited {done.returncode}:\n{done.stdout}"
        )
        expected = tuple(rewrite(line, site.addresses) for line in step.expected)
        assert output_matches(expected, done.stdout), (
            f"{block.id}: `{step.command}` printed:\n{done.stdout}\nthe page shows:\n"
            + "\n".join(expected)
        )


def check_python(block: Block, sites: Sites) -> None:
    """A Python example (an SDK pointed at the router) runs to its end."""
    site = sites.get(block.fragment)
    script = site.workdir / (re.sub(r"\W", "_", block.id) + ".py")
    script.write_text(rewrite(block.text, site.addresses), encoding="utf-8")
    done = run_shell(f"python -X dev -W error {script.name}", site, strict=True)
    assert done.returncode == 0, f"{block.id} exited {done.returncode}:\n{done.stdout}"


def check_json(block: Block, sites: Sites) -> None:
    """Valid JSON; an error body has the shape the router really answers with."""
    document = orjson.loads(block.text)
    if "error" not in document:
        return
    site = sites.get(block.fragment)
    if "trace_id" in document:  # the OpenAI shape
        path, body = "/v1/chat/completions", chat_body("no-such-model")
    else:
        path, body = "/v1beta/models/no-such-model:generateContent", {"contents": []}
    headers = {"Content-Type": "application/json"}
    status, _, raw = http_request("POST", site.url + path, orjson.dumps(body), headers)
    assert status == 404, raw
    assert shape(document) == shape(orjson.loads(raw)), (block.id, raw)


def check_promql(block: Block, sites: Sites) -> None:
    """Every series a query names is exported (after one request, as a scrape would find it)."""
    site = sites.get(block.fragment)
    headers = {"Content-Type": "application/json"}
    body = orjson.dumps(chat_body("gemini-2.5-flash"))
    assert http_request("POST", site.url + "/v1/chat/completions", body, headers)[0] == 200
    status, _, metrics = http_request("GET", site.url + "/metrics")
    assert status == 200
    missing = [name for name in series(block.text) if name not in metrics.decode()]
    assert not missing, f"{block.id}: not in /metrics: {missing}"
