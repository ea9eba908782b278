"""deploy/tracing/ with the real tools: `router check` and `docker-compose config` on the
Tempo overlay (Docker itself cannot run here; the offline checks are
tests/deploy/test_tracing_files.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import REPO_ROOT
from tests.support.deploy_files import COMPOSE, DEPLOY, SECRETS, compose_cli

pytestmark = pytest.mark.integration


def test_the_tracing_routes_pass_router_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router", "check", str(DEPLOY / "tracing" / "routes.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, **SECRETS},
        cwd=REPO_ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_the_overlay_passes_compose_config() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (apt-get install docker-compose); structure checked offline")
    overlay = DEPLOY / "tracing" / "docker-compose.tempo.yml"
    env = {**os.environ, "ROUTER_ADMIN_TOKEN": SECRETS["ROUTER_ADMIN_TOKEN"]}
    done = subprocess.run(
        [*cli, "-f", str(COMPOSE), "-f", str(overlay), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "grafana/tempo" in done.stdout
    assert str(DEPLOY / "tracing" / "routes.yaml") in done.stdout  # the replicas' config
