"""deploy/tracing/ with the real tools: `router check` and `docker-compose config` on the
Tempo overlay (Docker itself cannot run here; the offline checks are
tests/deploy/test_tracing_files.py)."""

from __future__ import annotations

import pytest

from tests.support.deploy_files import (
    COMPOSE,
    DEPLOY,
    assert_router_check_passes,
    compose_cli_or_skip,
    compose_config,
)

pytestmark = pytest.mark.integration


def test_the_tracing_routes_pass_router_check() -> None:
    assert_router_check_passes(DEPLOY / "tracing" / "routes.yaml")


def test_the_overlay_passes_compose_config() -> None:
    cli = compose_cli_or_skip("structure checked offline")
    overlay = DEPLOY / "tracing" / "docker-compose.tempo.yml"
    done = compose_config(cli, COMPOSE, overlay)
    assert done.returncode == 0, done.stderr
    assert "grafana/tempo" in done.stdout
    assert str(DEPLOY / "tracing" / "routes.yaml") in done.stdout  # the replicas' config
