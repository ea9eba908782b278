"""`GET /healthz` and `GET /readyz`: whether the process lives, and whether it can serve."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from router.billing.service import Billing
from router.proxy.table import RouteTable
from router.web.lifecycle import Lifecycle


class Readiness:
    """The liveness and readiness endpoints a load balancer probes."""

    def __init__(self, table: RouteTable, lifecycle: Lifecycle, billing: Billing) -> None:
        self.table = table
        self.lifecycle = lifecycle
        self.billing = billing

    async def healthz(self, request: web.Request) -> web.Response:
        """GET /healthz: the process is alive."""
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """GET /readyz: config loaded, not shutting down, and at least one node usable."""
        if self.lifecycle.is_stopping:
            return _json({"status": "not ready", "reason": "shutting down"}, status=503)
        if not self.table.is_ready(asyncio.get_running_loop().time()):
            return _json({"status": "not ready", "reason": "no node is usable"}, status=503)
        if not self.billing.is_ready():
            return _json({"status": "not ready", "reason": "state backend unreachable"}, 503)
        return _json({"status": "ready"})


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")
