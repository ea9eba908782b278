"""deploy/tracing/ with the real tools: `router check` and `docker-compose config` on the
Tempo overlay (Docker itself cannot run here; the offline checks are
tests/deploy/test_tracing_files.py)."""

from __future__ import annotations

import pytest

from tests.support.deploy_files import COMPOSE, DEPLOY, compose_cli, compose_config, router_check

pytestmark = pytest.mark.integration


def test_the_tracing_routes_pass_router_check() -> None:
    done = router_check(DEPLOY / "tracing" / "routes.yaml")
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_the_overlay_passes_compose_config() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (apt-get install docker-compose); structure checked offline")
    overlay = DEPLOY / "tracing" / "docker-compose.tempo.yml"
    done = compose_config(cli, COMPOSE, overlay)
    assert done.returncode == 0, done.stderr
    assert "grafana/tempo" in done.stdout
    assert str(DEPLOY / "tracing" / "routes.yaml") in done.stdout  # the replicas' config
