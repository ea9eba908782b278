"""The application factory: wires config, node pool, proxy and routes together."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from router.config import Config
from router.dialects import GEMINI_VERSIONS
from router.errors import ApiError, NotFound, RouterError, error_body
from router.handlers import Handlers, request_id_of
from router.headers import REQUEST_ID
from router.proxy import Proxy
from router.runtime import RouteTable
from router.streams import StreamRegistry

ROUTE_TABLE = web.AppKey("route_table", RouteTable)
STREAMS = web.AppKey("streams", StreamRegistry)

log = logging.getLogger("router")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become the JSON error shape; every response gets X-Request-ID."""
    try:
        response = await handler(request)
    except RouterError as exc:
        return error_response(exc, request_id_of(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(exc), request_id_of(request))
    except (ConnectionError, TimeoutError) as exc:  # pragma: no cover - defensive
        log.warning("request failed: %s", type(exc).__name__)
        return error_response(ApiError("internal error"), request_id_of(request))
    if not response.prepared:
        response.headers[REQUEST_ID] = request_id_of(request)
    return response


def error_response(error: RouterError, request_id: str) -> web.Response:
    """Render a RouterError as the JSON error shape."""
    response = web.Response(
        body=error.body(request_id),
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


def _gemini_roots(prefixes: tuple[str, ...]) -> list[str]:
    """Gemini paths live at the root and under every prefix that is not itself versioned."""
    roots = [""]
    for prefix in prefixes:
        if prefix.rsplit("/", 1)[-1] not in GEMINI_VERSIONS and prefix not in roots:
            roots.append(prefix)
    return roots


def create_app(config: Config) -> web.Application:
    """Build the router application for `config`."""
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    table = RouteTable(config)
    streams = StreamRegistry(config.server.keepalive_interval)
    app[ROUTE_TABLE] = table
    app[STREAMS] = streams
    handlers = Handlers(table, Proxy(table, streams), config.server.max_body_bytes)

    routes: list[web.RouteDef] = []
    seen: set[str] = set()

    def add(method: str, path: str, handler: Handler) -> None:
        if (method, path) not in seen:
            seen.add(method + path)
            routes.append(web.route(method, path, handler))

    for prefix in config.server.prefixes:
        add("POST", f"{prefix}/chat/completions", handlers.chat)
        add("GET", f"{prefix}/models", handlers.models)
    versions = "|".join(GEMINI_VERSIONS)
    for root in _gemini_roots(config.server.prefixes):
        add("POST", f"{root}/{{version:{versions}}}/models/{{model_action}}", handlers.gemini)
    add("GET", "/healthz", handlers.healthz)
    add("GET", "/readyz", handlers.readyz)
    app.add_routes(routes)

    async def start(app: web.Application) -> None:
        table.install(config)
        streams.start()

    async def stop(app: web.Application) -> None:
        await streams.stop()
        await table.pool.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


__all__ = ["ROUTE_TABLE", "STREAMS", "create_app", "error_body", "error_response"]
