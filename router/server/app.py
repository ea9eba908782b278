"""The application factory: wires config, node pool, proxy and routes together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from router.billing.service import Billing
from router.billing.state import redis_client
from router.config.model import Config
from router.dialects.dialect import OPENAI, Dialect
from router.dialects.gemini import GEMINI_VERSIONS, gemini_roots
from router.dialects.openai import OPENAI_ENDPOINTS
from router.errors import ApiError, NotFound, RouterError
from router.observability.logs import LogOutput
from router.observability.metrics import Metrics
from router.observability.observer import Observer
from router.proxy.attempts import Proxy
from router.proxy.keepalive import StreamRegistry
from router.proxy.table import RouteTable
from router.server.protocol_errors import expectation_failed_as_json
from router.upstream.headers import REQUEST_ID
from router.upstream.http_transport import http_transport
from router.upstream.peers import ClusterSync
from router.upstream.prober import HealthProber
from router.upstream.transport import TransportFactory
from router.web.account import Account
from router.web.admin import Admin
from router.web.handlers import Handlers, dialect_of, request_id_of
from router.web.lifecycle import Lifecycle
from router.web.models import ModelEndpoints, Speaks
from router.web.pages import Pages
from router.web.reload import ConfigReloader

if TYPE_CHECKING:
    from router.observability.tracing import SpanExport

log = logging.getLogger("router")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become the JSON error shape; every response gets X-Request-ID."""
    response: web.StreamResponse
    try:
        response = await handler(request)
        if not response.prepared:
            response.headers[REQUEST_ID] = request_id_of(request)
    except RouterError as exc:
        response = error_response(exc, request_id_of(request), dialect_of(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http(exc), request_id_of(request), dialect_of(request))
    except Exception:
        # A bug, not a client or node problem: answer in the usual shape and log it whole.
        log.exception("unhandled error")
        response = error_response(
            ApiError("internal error"), request_id_of(request), dialect_of(request)
        )
    if request.app[PARTS].lifecycle.is_stopping:
        response.force_close()  # "Connection: close": the balancer reconnects elsewhere
    return response


def error_response(error: RouterError, request_id: str, dialect: Dialect = OPENAI) -> web.Response:
    """Render a RouterError as the client's dialect's JSON error shape."""
    response = web.Response(
        body=dialect.error_body(error, request_id),
        status=error.status,
        content_type="application/json",
        headers=error.headers(),
    )
    response.headers[REQUEST_ID] = request_id
    return response


def _from_http(exc: web.HTTPException) -> RouterError:
    if exc.status == 404:
        return NotFound("no such endpoint")
    error = RouterError(exc.reason)
    error.status = exc.status
    error.code = exc.reason.lower().replace(" ", "_")
    error.type = "invalid_request_error"
    return error


@dataclass(frozen=True, slots=True)
class Options:
    """How to run: where routes.yaml lives (for reloads) and what to record."""

    config_path: str | None = None
    metrics: bool = True
    access_log: bool = True
    reload_poll: float = 1.0
    log_output: LogOutput | None = None  # from configure_logging: lets access lines skip structlog
    # prometheus-client's multiprocess folder, with `--workers` (router.cli.main sets it up)
    metrics_dir: str | None = None


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


PARTS = web.AppKey("parts", Parts)


def create_app(
    config: Config, options: Options | None = None, transports: TransportFactory = http_transport
) -> web.Application:
    """Build the router application for `config`; `transports` talk to the nodes."""
    options = options or Options()
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    parts = app[PARTS] = _wire(config, options, transports)
    proxy = Proxy(parts.table, parts.streams, parts.observer)
    handlers = Handlers(parts.table, proxy, parts.lifecycle, parts.billing)
    models = ModelEndpoints(parts.table, parts.billing)
    app.add_routes(_routes(config, handlers, models, _metrics_endpoint(parts)))
    app.add_routes(Account(parts.billing).routes(config.server.prefixes))
    if config.server.ui:
        # Whether the playground asks for a key is decided at start (a reload that adds the
        # first key or removes the last one changes auth at once, this page on restart).
        models_need_key = not parts.billing.auth_off and not config.server.public_models
        app.add_routes(Pages(models_need_key=models_need_key).routes())
    if parts.reloader is not None:
        admin = Admin(parts.table, parts.reloader, parts.observer, parts.cluster, parts.billing)
        app.add_routes(admin.routes())

    async def start(app: web.Application) -> None:
        await parts.start(config)

    async def stop(app: web.Application) -> None:
        await parts.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.on_response_prepare.append(expectation_failed_as_json)
    return app


def _wire(config: Config, options: Options, transports: TransportFactory) -> Parts:
    """Build the live objects and connect their listeners."""
    metrics = Metrics(multiprocess_dir=options.metrics_dir) if options.metrics else None
    observer = Observer(metrics, access_log=options.access_log, output=options.log_output)
    table = RouteTable(config, transports)
    prober = HealthProber(table.pool, observer)
    billing = Billing(config.state, config.keys, observer)
    spans = _tracing(config, observer, metrics)
    cluster = None
    if config.state.backend == "redis":
        cluster = ClusterSync(config.state, table.pool, observer, redis_client(config.state))
        observer.listeners.append(cluster.on_transitions)
    streams = StreamRegistry(config.server.keepalive_interval)
    parts = Parts(
        table, streams, Lifecycle(), observer, metrics, prober, None, billing, cluster, spans
    )
    if options.config_path:
        parts.reloader = ConfigReloader(
            options.config_path, table, observer, parts.reloaded, options.reload_poll
        )
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


def _model_paths(prefixes: tuple[str, ...]) -> dict[str, Speaks]:
    """Every model list/get path and the dialect it answers in; a path that is both an
    OpenAI prefix's and a Gemini version's (`/v1/models`) decides per request."""
    paths: dict[str, Speaks] = {}

    def put(path: str, speaks: Speaks) -> None:
        paths[path] = paths[path].joined(speaks) if path in paths else speaks

    for prefix in prefixes:
        put(f"{prefix}/models", Speaks.OPENAI)
        put(f"{prefix}/models/{{model:.+}}", Speaks.OPENAI)
    for root in gemini_roots(prefixes):
        for version in GEMINI_VERSIONS:
            put(f"{root}/{version}/models", Speaks.GEMINI)
            put(f"{root}/{version}/models/{{model:.+}}", Speaks.GEMINI)
    return paths


def _routes(
    config: Config, handlers: Handlers, models: ModelEndpoints, metrics: Handler
) -> list[web.RouteDef]:
    """Every endpoint, each path once (prefixes may overlap)."""
    routes: list[web.RouteDef] = []
    seen: set[str] = set()

    def add(method: str, path: str, handler: Handler) -> None:
        if method + path not in seen:
            seen.add(method + path)
            routes.append(web.route(method, path, handler))

    for endpoint in OPENAI_ENDPOINTS:
        handler = handlers.openai_handler(endpoint)
        for prefix in config.server.prefixes:
            add("POST", prefix + endpoint.suffix, handler)
    for path, speaks in _model_paths(config.server.prefixes).items():
        add("GET", path, models.handler(speaks, one=path.endswith("}")))
    versions = "|".join(GEMINI_VERSIONS)
    for root in gemini_roots(config.server.prefixes):
        # GET /v1/models/{model} above and this POST share their paths: aiohttp picks by method.
        add("POST", f"{root}/{{version:{versions}}}/models/{{model_action}}", handlers.gemini)
    add("GET", "/healthz", handlers.healthz)
    add("GET", "/readyz", handlers.readyz)
    add("GET", "/metrics", metrics)
    return routes


def _metrics_endpoint(parts: Parts) -> Handler:
    """GET /metrics: gauges of live counts read at scrape time, then the registry."""

    async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
        rendered = parts.observer.render_metrics(
            request.headers.get("Accept"),
            inflight=parts.lifecycle.inflight,
            streams_open=len(parts.streams.open),
            node_inflight=((name, n.inflight) for name, n in parts.table.pool.nodes.items()),
        )
        if rendered is None:
            raise NotFound("metrics are switched off")
        body, content_type = rendered
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return metrics_endpoint


__all__ = ["PARTS", "Options", "Parts", "create_app", "error_response"]
