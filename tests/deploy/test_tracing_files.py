"""deploy/tracing/: Grafana Tempo beside the compose deployment (docs/tracing.md).

Docker cannot run here, so what can be checked offline is: every file is well-formed
YAML, the routes.yaml is a valid router config that exports to the `tempo` service's
OTLP/HTTP receiver, the overlay mounts files that exist where their readers look, and the
Grafana datasources link exemplars to the Tempo datasource. `docker-compose config` runs
on the overlay in tests/integration/deploy/test_tracing_deploy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.support.deploy_files import COMPOSE, DEPLOY, compose_doc, parsed

TRACING = DEPLOY / "tracing"
OVERLAY = TRACING / "docker-compose.tempo.yml"
ROUTES = TRACING / "routes.yaml"
TEMPO = TRACING / "tempo.yaml"
DATASOURCES = TRACING / "grafana-datasources.yml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> the file it mounts (relative to deploy/, as compose reads it)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out[target] = source
    return out


def test_every_file_is_well_formed_yaml() -> None:
    for path in (OVERLAY, ROUTES, TEMPO, DATASOURCES):
        assert isinstance(load(path), dict), path


def test_the_routers_export_to_tempos_otlp_http_receiver() -> None:
    tracing = parsed(ROUTES.read_text(), str(ROUTES)).observability.tracing
    assert tracing is not None and tracing.sample_ratio == 1.0
    url = urlsplit(tracing.endpoint)
    receiver = load(TEMPO)["distributor"]["receivers"]["otlp"]["protocols"]["http"]
    assert (url.hostname, url.port, url.path) == ("tempo", 4318, "/v1/traces")
    assert receiver["endpoint"] == "0.0.0.0:4318"  # reachable from the routers' containers
    assert "tempo" in load(OVERLAY)["services"]


def test_the_tracing_routes_are_the_compose_routes_plus_tracing() -> None:
    compose_routes = parsed((DEPLOY / "compose" / "routes.yaml").read_text(), "compose")
    tracing_routes = parsed(ROUTES.read_text(), "tracing")
    assert tracing_routes.models.keys() == compose_routes.models.keys()
    assert tracing_routes.nodes == compose_routes.nodes
    assert tracing_routes.server == compose_routes.server


def test_the_overlay_mounts_what_exists_where_it_is_read() -> None:
    services = load(OVERLAY)["services"]
    base = compose_doc()["services"]
    for name in ("router-1", "router-2"):
        assert name in base
        assert mounts(services[name])["/etc/router/routes.yaml"] == "./tracing/routes.yaml"
    assert mounts(services["tempo"])["/etc/tempo/tempo.yaml"] == "./tracing/tempo.yaml"
    assert "-config.file=/etc/tempo/tempo.yaml" in services["tempo"]["command"]
    grafana = mounts(services["grafana"])
    target = "/etc/grafana/provisioning/datasources/prometheus.yml"
    assert target in mounts(base["grafana"])  # replaces the compose datasource file
    assert grafana[target] == "./tracing/grafana-datasources.yml"
    for service in services.values():
        for source in mounts(service).values():
            assert (COMPOSE.parent / source).exists(), source
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]


def test_grafana_links_exemplars_to_tempo() -> None:
    sources = {s["uid"]: s for s in load(DATASOURCES)["datasources"]}
    assert sources["tempo"]["type"] == "tempo"
    assert urlsplit(sources["tempo"]["url"]).port == load(TEMPO)["server"]["http_listen_port"]
    [link] = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link == {"name": "trace_id", "datasourceUid": "tempo"}
