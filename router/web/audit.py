"""Every admin action in the access log, with the operator's address.

The admin API changes keys, credits and nodes: each action (a POST) and each refused
call leaves one `admin` line under the `router.access` logger (method, path, status,
the client address as `server.trusted_proxies` lets the router believe it, the trace
id). A read that succeeded is logged at debug level only: the status page reads
/admin/status once a second. Bodies and tokens are never logged; a path holds at most a
node's or a key's name.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from router.errors import RouterError
from router.observability.logs import get_logger
from router.proxy.table import RouteTable
from router.web.context import request_id_of
from router.web.forwarded import client_address, parse_networks

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Audit:
    """Wraps admin handlers so that each call is logged when it ends."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.log = get_logger("router.access")

    def client(self, request: web.Request) -> str | None:
        trusted = parse_networks(self.table.config.server.trusted_proxies)
        return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)

    def wrap(self, handler: Handler) -> Handler:
        async def audited(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except (RouterError, web.HTTPException) as exc:
                status = exc.status
                raise
            finally:
                quiet = request.method in ("GET", "HEAD") and status < 400
                (self.log.debug if quiet else self.log.info)(
                    "admin",
                    trace_id=request_id_of(request),
                    method=request.method,
                    path=request.path[:200],
                    status=status,
                    client=self.client(request),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

        return audited

    def routes(self, routes: list[web.RouteDef]) -> list[web.RouteDef]:
        """The same routes, each handler audited."""
        return [web.route(r.method, r.path, self.wrap(r.handler), **r.kwargs) for r in routes]
