"""The application factory: wires config, node pool, proxy and routes together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from router.billing.service import Billing
from router.config.model import Config
from router.dialects.dialect import OPENAI, Dialect
from router.dialects.gemini import GEMINI_VERSIONS, gemini_roots
from router.errors import ApiError, NotFound, RouterError
from router.observability.logs import LogOutput
from router.observability.metrics import Metrics
from router.observability.observer import Observer
from router.proxy.attempts import Proxy
from router.proxy.keepalive import StreamRegistry
from router.proxy.table import RouteTable
from router.upstream.headers import REQUEST_ID
from router.upstream.http_transport import http_transport
from router.upstream.peers import ClusterSync
from router.upstream.prober import HealthProber
from router.upstream.transport import TransportFactory
from router.web.admin import Admin
from router.web.handlers import Handlers, dialect_of, request_id_of
from router.web.lifecycle import Lifecycle
from router.web.reload import ConfigReloader

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


PARTS = web.AppKey("parts", Parts)


def create_app(
    config: Config, options: Options | None = None, transports: TransportFactory = http_transport
) -> web.Application:
    """Build the router application for `config`; `transports` talk to the nodes."""
    options = options or Options()
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    metrics = Metrics() if options.metrics else None
    observer = Observer(metrics, access_log=options.access_log, output=options.log_output)
    table = RouteTable(config, transports)
    streams = StreamRegistry(config.server.keepalive_interval)
    lifecycle = Lifecycle()
    proxy = Proxy(table, streams, observer)
    billing = Billing(config.state, config.keys, observer)
    handlers = Handlers(table, proxy, lifecycle, billing)
    prober = HealthProber(table.pool, observer)
    cluster = (
        ClusterSync(config.state, table.pool, observer) if config.state.backend == "redis" else None
    )
    if cluster is not None:
        observer.listeners.append(cluster.on_transitions)

    def installed(new: Config) -> None:
        if metrics is not None:
            metrics.apply_config(new)
        observer.node_states((name, node.health.state) for name, node in table.pool.nodes.items())
        prober.sync()

    reloader = (
        ConfigReloader(options.config_path, table, observer, installed, options.reload_poll)
        if options.config_path
        else None
    )
    app[PARTS] = Parts(table, streams, lifecycle, observer, metrics, prober, reloader, billing)

    routes: list[web.RouteDef] = []
    seen: set[str] = set()

    def add(method: str, path: str, handler: Handler) -> None:
        if method + path not in seen:
            seen.add(method + path)
            routes.append(web.route(method, path, handler))

    for prefix in config.server.prefixes:
        add("POST", f"{prefix}/chat/completions", handlers.chat)
        add("GET", f"{prefix}/models", handlers.models)
    versions = "|".join(GEMINI_VERSIONS)
    for root in gemini_roots(config.server.prefixes):
        add("POST", f"{root}/{{version:{versions}}}/models/{{model_action}}", handlers.gemini)
    add("GET", "/healthz", handlers.healthz)
    add("GET", "/readyz", handlers.readyz)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        rendered = observer.render_metrics(
            request.headers.get("Accept"),
            inflight=lifecycle.inflight,
            streams_open=len(streams.open),
            node_inflight=((name, node.inflight) for name, node in table.pool.nodes.items()),
        )
        if rendered is None:
            raise NotFound("metrics are switched off")
        body, content_type = rendered
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    add("GET", "/metrics", metrics_endpoint)
    app.add_routes(routes)
    if reloader is not None:
        app.add_routes(Admin(table, reloader, observer, cluster).routes())

    async def start(app: web.Application) -> None:
        table.install(config)
        installed(config)
        if metrics is not None:
            metrics.config_loaded()
        streams.start()
        await billing.start()
        if cluster is not None:
            cluster.start()
        if reloader is not None:
            reloader.start()

    async def stop(app: web.Application) -> None:
        if reloader is not None:
            await reloader.stop()
        await prober.stop()
        if cluster is not None:
            await cluster.stop()
        await billing.stop()
        await streams.stop()
        await table.pool.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


__all__ = ["PARTS", "Options", "Parts", "create_app", "error_response"]
