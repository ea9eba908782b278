"""The live objects of one router process, built and connected once, and every route.

`wire` builds them (the route table and node pool, the stream registry, the observer
and metrics, the prober, billing, the cluster sync and the reloader); `routes` lists the
endpoints over them: every dialect's routes (router.dialects.registry.routes: proxied
requests through the one pipeline, model list and get), health, account, pages and the
admin API. router.server.app puts the aiohttp application around them. This is the one
room that holds both billing and the proxy: neither knows the other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from router.billing.service import Billing
from router.billing.state import redis_client
from router.config.model import Config
from router.dialects import registry
from router.dialects.codec import EntryKind
from router.observability.logs import LogOutput
from router.observability.metrics import Metrics
from router.observability.observer import Observer
from router.proxy.attempts import Proxy
from router.proxy.keepalive import StreamRegistry
from router.proxy.table import RouteTable
from router.upstream.peers import ClusterSync
from router.upstream.prober import HealthProber
from router.upstream.transport import TransportFactory
from router.web.account import Account
from router.web.admin import Admin
from router.web.lifecycle import Lifecycle
from router.web.models import ModelEndpoints
from router.web.pages import Pages
from router.web.pipeline import Pipeline
from router.web.readiness import Readiness
from router.web.reload import ConfigReloader

if TYPE_CHECKING:
    from router.observability.tracing import SpanExport


@dataclass(slots=True)
class Parts:
    """The live objects of one router process, reachable from the app."""

    table: RouteTable
    streams: StreamRegistry
    lifecycle: Lifecycle
    observer: Observer
    metrics: Metrics | None
    prober: HealthProber
    reloader: ConfigReloader | None
    billing: Billing
    cluster: ClusterSync | None = None
    spans: SpanExport | None = None  # set when observability.tracing is configured

    def installed(self, config: Config) -> None:
        """A config was just made active (at start and on every reload)."""
        if self.metrics is not None:
            self.metrics.apply_config(config)
        nodes = self.table.pool.nodes
        self.observer.node_states((name, node.health.state) for name, node in nodes.items())
        self.prober.sync()

    async def reloaded(self, config: Config) -> None:
        """A reload installed `config`: as at start, plus its `keys:` for billing."""
        self.installed(config)
        await self.billing.apply_keys(config.keys)

    async def start(self, config: Config) -> None:
        self.table.install(config)
        self.installed(config)
        if self.metrics is not None:
            self.metrics.config_loaded()
        self.streams.start()
        await self.billing.start()
        if self.cluster is not None:
            self.cluster.start()
        if self.reloader is not None:
            self.reloader.start()

    async def stop(self) -> None:
        if self.reloader is not None:
            await self.reloader.stop()
        await self.prober.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        self.observer.flush()  # the last turn's requests, before their settlements' spans
        await self.billing.stop()
        await self.streams.stop()
        await self.table.pool.close()
        if self.spans is not None:
            await asyncio.to_thread(self.spans.close)  # bounded: export.FLUSH_WAIT


def wire(
    config: Config,
    transports: TransportFactory,
    *,
    config_path: str | None,
    metrics: bool,
    access_log: bool,
    reload_poll: float,
    log_output: LogOutput | None,
    metrics_dir: str | None = None,
) -> Parts:
    """Build the live objects and connect their listeners (`metrics_dir`: prometheus-
    client's multiprocess folder, with `--workers`)."""
    registry_metrics = Metrics(multiprocess_dir=metrics_dir) if metrics else None
    observer = Observer(registry_metrics, access_log=access_log, output=log_output)
    table = RouteTable(config, transports)
    prober = HealthProber(table.pool, observer)
    billing = Billing(config.state, config.keys, observer)
    spans = _tracing(config, observer, registry_metrics)
    cluster = None
    if config.state.backend == "redis":
        cluster = ClusterSync(config.state, table.pool, observer, redis_client(config.state))
        observer.listeners.append(cluster.on_transitions)
    streams = StreamRegistry(config.server.keepalive_interval)
    lifecycle = Lifecycle()
    parts = Parts(
        table, streams, lifecycle, observer, registry_metrics, prober, None, billing, cluster, spans
    )
    if config_path:
        parts.reloader = ConfigReloader(config_path, table, observer, parts.reloaded, reload_poll)
    return parts


def _tracing(config: Config, observer: Observer, metrics: Metrics | None) -> SpanExport | None:
    """With `observability.tracing`: each request's trace context, and its spans exported."""
    tracing = config.observability.tracing
    if tracing is None:
        return None
    from router.observability.tracing import start_tracing  # the optional OpenTelemetry

    tracer, recorder = start_tracing(tracing, metrics)
    observer.tracer = tracer
    observer.add_request_listener(recorder)
    return recorder.export


def routes(config: Config, parts: Parts, metrics: Handler) -> list[web.RouteDef]:
    """Every endpoint, each path once (prefixes may overlap): every dialect's routes, then
    the router's own (`metrics` serves /metrics)."""
    pipeline = Pipeline(
        parts.table,
        Proxy(parts.table, parts.streams, parts.observer),
        parts.lifecycle,
        parts.billing,
    )
    models = ModelEndpoints(parts.table, parts.billing)
    found: list[web.RouteDef] = []
    for (method, path), claims in registry.routes(config.server.prefixes).items():
        kind = claims[0][1].kind
        if kind is EntryKind.PROXY:
            handler = pipeline.handler(claims)
        else:
            handler = models.handler(claims, one=kind is EntryKind.MODEL_GET)
        found.append(web.route(method, path, handler))
    readiness = Readiness(parts.table, parts.lifecycle, parts.billing)
    found.append(web.get("/healthz", readiness.healthz))
    found.append(web.get("/readyz", readiness.readyz))
    found.append(web.get("/metrics", metrics))
    found += Account(parts.billing).routes(config.server.prefixes)
    if config.server.ui:
        # Whether the playground asks for a key is decided at start (a reload that adds the
        # first key or removes the last one changes auth at once, this page on restart).
        models_need_key = not parts.billing.auth_off and not config.server.public_models
        found += Pages(models_need_key=models_need_key).routes()
    if parts.reloader is not None:
        admin = Admin(parts.table, parts.reloader, parts.observer, parts.cluster, parts.billing)
        found += admin.routes()
    return found
