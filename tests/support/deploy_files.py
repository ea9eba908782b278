"""What the deploy/ tests read: the shipped files' paths and a parser for each format.

tests/deploy/ checks the files offline; tests/integration/deploy/ runs the real tools on them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.config.loader import parse_config
from router.config.model import Config
from tests.support import REPO_ROOT as ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_ROUTES = DEPLOY / "compose" / "routes.yaml"
COMPOSE_PROMETHEUS = DEPLOY / "compose" / "prometheus.yml"
COMPOSE_DATASOURCE = DEPLOY / "compose" / "grafana-datasource.yml"
NGINX_CONF = DEPLOY / "nginx" / "router.conf"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
GRAFANA = ROOT / "grafana"
NGINX = "/usr/sbin/nginx"

# What the shipped routes.yaml files reference; the values are only for validation.
SECRETS = {
    "ROUTER_ADMIN_TOKEN": "test-admin-token",
    "NODE62_API_KEY": "test-key-62",
    "NODE63_API_KEY": "test-key-63",
}
LABELS = {"app.kubernetes.io/name": "router", "app.kubernetes.io/instance": "router"}
OLDEST_KUBERNETES = (1, 27)  # what deploy/k8s/kustomization.yaml promises
DRAIN_MARGIN = 5  # seconds beyond preStop + shutdown_delay + shutdown_grace
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


# --- helpers ---------------------------------------------------------------------------


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s (but the Kustomization), keyed by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] != "Kustomization":
                assert doc["kind"] not in found, f"two {doc['kind']} objects"
                found[doc["kind"]] = doc
    return found


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def configmap_routes(objects: dict[str, dict[str, Any]]) -> str:
    return str(objects["ConfigMap"]["data"]["routes.yaml"])


def parsed(text: str, source: str) -> Config:
    return parse_config(text, source=source, environ=SECRETS)


def api_key_line(node: str) -> str:
    """The `api_key:` line of one node in deploy/compose/routes.yaml."""
    text = COMPOSE_ROUTES.read_text()
    match = re.search(rf"^  {node}:\n(?:    .*\n)*?    api_key: (.*)$", text, re.MULTILINE)
    assert match, f"node {node} has no api_key"
    return match[1]


def seconds(value: str | int) -> int:
    """Compose's `45s` / `1m30s`, or a bare number of seconds."""
    if isinstance(value, int):
        return value
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert parts and value, f"unreadable duration {value!r}"
    return int(parts[1] or 0) * 60 + int(parts[2] or 0)


def nginx_directives(text: str) -> list[list[str]]:
    """Each `name arg ...;` statement and `name ... {` block opener, comments removed."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [stmt.split() for stmt in re.split(r"[;{}]", code) if stmt.strip()]


def render_nginx(text: str, listen: int, upstreams: list[int]) -> str:
    """router.conf with the compose service names and listen port replaced by loopback ones."""
    ports = iter(upstreams)
    text = re.sub(r"server router-\d+:8080", lambda _: f"server 127.0.0.1:{next(ports)}", text)
    assert next(ports, None) is None, "fewer upstream servers than expected"
    return re.sub(r"listen 8080;", f"listen 127.0.0.1:{listen};", text)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    # Docker drops comment lines before joining continuations (so a comment may end in `\`).
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def compose_doc() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (v1, Debian), whichever works here."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_cli_or_skip(offline: str) -> list[str]:
    """compose_cli(), or the test skipped, saying where the structure is checked offline."""
    cli = compose_cli()
    if cli is None:
        pytest.skip(f"no compose CLI (apt-get install docker-compose); {offline}")
    return cli


def venv_tool(name: str) -> str | None:
    """A console script installed next to this Python (pip's `bin/`), or one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def tool(args: list[str], *, timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    """Run one tool to its end: its exit code and its output as text."""
    return subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=timeout, **options
    )


def router_check(path: Path) -> subprocess.CompletedProcess[str]:
    """`router check` on a shipped routes.yaml, with the secrets it reads set."""
    command = [sys.executable, "-m", "router", "check", str(path)]
    return tool(command, env={**os.environ, **SECRETS}, cwd=ROOT, timeout=60)


def assert_router_check_passes(path: Path) -> None:
    """`router check` on `path` exits 0 and says the file is valid."""
    done = router_check(path)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def compose_config(
    cli: list[str], *files: Path, token: bool = True
) -> subprocess.CompletedProcess[str]:
    """`docker compose config` over `files`, with the admin token set unless told not to."""
    env = {**os.environ, "ROUTER_ADMIN_TOKEN": SECRETS["ROUTER_ADMIN_TOKEN"]}
    if not token:
        env.pop("ROUTER_ADMIN_TOKEN")
    args = [arg for path in files for arg in ("-f", str(path))]
    return tool([*cli, *args, "config"], env=env, timeout=60)
