"""The admin API under /admin: node states, drain/enable, reload, the active config;
keys and usage come from router.web.admin_keys.

Only with `Authorization: Bearer <server.admin_token>`; with no token configured the
whole API answers 404, as if it did not exist. Every call is in the access log
(router.web.audit).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import orjson
from aiohttp import web

from router.billing.service import Billing
from router.config.model import Config
from router.dialects.registry import DEFAULT
from router.errors import InvalidConfig, InvalidToken, NotFound, echo
from router.observability.observer import Observer
from router.proxy.table import RouteTable
from router.routing.health import Changes, NodeHealth, NodeState
from router.upstream.peers import ClusterSync, MessageKind
from router.web.admin_keys import AdminKeys
from router.web.audit import Audit
from router.web.context import request_id_of
from router.web.reload import ConfigReloader
from router.web.status import status_document

SECRET_FIELDS = frozenset({"api_key", "basic_auth", "admin_token", "key", "hash"})


class AdminAction(StrEnum):
    """What an operator can do to a node (POST /admin/nodes/{name}/<action>)."""

    DRAIN = "drain"
    ENABLE = "enable"


# Each action: the health method that applies it here, and the message for other replicas.
ACTIONS: Mapping[AdminAction, tuple[Callable[[NodeHealth, float], Changes], MessageKind]] = (
    MappingProxyType(
        {
            AdminAction.DRAIN: (NodeHealth.drain, MessageKind.DRAIN),
            AdminAction.ENABLE: (NodeHealth.enable, MessageKind.ENABLE),
        }
    )
)


def redacted(value: Any) -> Any:
    """Plain data for a config object, every secret replaced by `***`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.name.startswith("_"):
                continue
            item = getattr(value, f.name)
            out[f.name] = "***" if f.name in SECRET_FIELDS and item else redacted(item)
        return out
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    if isinstance(value, frozenset | set):  # a node's dialects: shown sorted
        return sorted(redacted(v) for v in value)
    return value


class Admin:
    """Handlers of the admin API."""

    def __init__(
        self,
        table: RouteTable,
        reloader: ConfigReloader,
        observer: Observer,
        cluster: ClusterSync | None = None,
        billing: Billing | None = None,
    ) -> None:
        self.table = table
        self.reloader = reloader
        self.observer = observer
        self.cluster = cluster
        self.billing = billing

    def _authorize(self, request: web.Request) -> None:
        token = self.table.config.server.admin_token
        if not token:
            raise NotFound("no such endpoint")
        given = request.headers.get("Authorization", "")
        # Constant time; surrogateescape: a header of invalid UTF-8 is just a wrong token.
        expected = f"Bearer {token}".encode()
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
            raise InvalidToken("admin API needs Authorization: Bearer <server.admin_token>")

    async def nodes(self, request: web.Request) -> web.Response:
        """GET /admin/nodes."""
        self._authorize(request)
        return _json(nodes_document(self.table, asyncio.get_running_loop().time(), time.time()))

    async def status(self, request: web.Request) -> web.Response:
        """GET /admin/status: what the status page shows, read once a second."""
        self._authorize(request)
        nodes = nodes_document(self.table, asyncio.get_running_loop().time(), time.time())
        traffic = self.observer.traffic
        return _json(status_document(nodes, self.table.config, traffic, time.monotonic()))

    async def drain(self, request: web.Request) -> web.Response:
        """POST /admin/nodes/{name}/drain: no new requests; in-flight ones finish."""
        return self._operate(request, AdminAction.DRAIN)

    async def enable(self, request: web.Request) -> web.Response:
        """POST /admin/nodes/{name}/enable: back in rotation, counters reset."""
        return self._operate(request, AdminAction.ENABLE)

    def _operate(self, request: web.Request, action: AdminAction) -> web.Response:
        self._authorize(request)
        name = request.match_info["name"]
        node = self.table.pool.nodes.get(name)
        if node is None:
            raise NotFound(f"no node named {echo(name)}")
        now = asyncio.get_running_loop().time()
        apply, kind = ACTIONS[action]
        self.observer.transitions(apply(node.health, now))
        if self.cluster is not None:
            self.cluster.operator(name, kind)  # every replica drains / enables it too
        self.observer.log.info("admin_" + action, node=name)
        return _json({"node": name, "state": node.health.state_at(now).value})

    async def reload(self, request: web.Request) -> web.Response:
        """POST /admin/reload: 200 when installed, 400 listing every problem otherwise."""
        self._authorize(request)
        problems = await self.reloader.reload()
        if problems:
            error = InvalidConfig(f"{self.reloader.path} is invalid; the old config stays")
            body = orjson.loads(DEFAULT.replies.error_body(error, request_id_of(request)))
            body["error"]["problems"] = problems
            return _json(body, status=400)
        return _json({"status": "reloaded", "source": str(self.reloader.path)})

    async def config(self, request: web.Request) -> web.Response:
        """GET /admin/config: the active config, secrets replaced by ***."""
        self._authorize(request)
        return _json(config_document(self.table.config))

    def routes(self) -> list[web.RouteDef]:
        """Every admin route, each call audited in the access log."""
        routes = self._node_routes()
        if self.billing is not None:
            keys = AdminKeys(self.billing, lambda: self.table.config, self._authorize)
            routes += keys.routes()
        return Audit(self.table).routes(routes)

    def _node_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin/nodes", self.nodes),
            web.get("/admin/status", self.status),
            web.post("/admin/nodes/{name}/drain", self.drain),
            web.post("/admin/nodes/{name}/enable", self.enable),
            web.post("/admin/reload", self.reload),
            web.get("/admin/config", self.config),
        ]


def nodes_document(table: RouteTable, now: float, wall: float) -> dict[str, Any]:
    """GET /admin/nodes' document: every node's state, why and until when, and counters."""
    config = table.config
    users: dict[str, list[str]] = {name: [] for name in config.nodes}
    for route in config.models.values():
        for backend in route.backends:
            users.setdefault(backend.node, []).append(route.name)
    nodes = {}
    for name, node in table.pool.nodes.items():
        health = node.health
        until = health.ejected_until
        nodes[name] = {
            "state": health.state_at(now).value,
            "reason": None if health.reason is None else health.reason.value,
            "until": None if until is None else round(wall + (until - now), 3),
            "awaiting_first_probe": health.state is NodeState.UNPROVEN,
            "inflight": node.inflight,
            "max_inflight": node.config.max_inflight,
            "consecutive_failures": health.failures,
            "ejections": health.ejections,
            "recent_latency_ms": node.latency_ms(),
            "models": users.get(name, []),
        }
    panic = {
        model: round(wall - (now - at), 3)
        for model, at in table.panic_models.items()
        if now - at < 60
    }
    return {"nodes": nodes, "panic_mode": panic}


def config_document(config: Config) -> dict[str, Any]:
    """The config as plain data without secrets."""
    return {
        "source": config.source,
        "version": config.version,
        "server": redacted(config.server),
        "defaults": redacted(config.defaults),
        "nodes": redacted(dict(config.nodes)),
        "models": redacted(dict(config.models)),
    }


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")
