"""Live per-node objects: connection pools, in-flight count, prepared paths and headers.

A `NodePool` outlives config reloads: a node whose URL and key are unchanged keeps its
`NodeRuntime` (counters, health, connections); a removed node is retired and its pool
closed once its last request ends.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

from router.config.model import NodeConfig
from router.dialects.names import DialectName
from router.dialects.registry import key_codec
from router.routing.health import NodeHealth, NodeState
from router.upstream.http11 import Origin, request_path
from router.upstream.transport import NodeTransport, TransportFactory


class NodeRuntime:
    """Everything the hot path needs about one node, prepared once."""

    __slots__ = (
        "base_path",
        "base_url",
        "config",
        "credential",
        "dialect_headers",
        "health",
        "inflight",
        "key_check_path",
        "latency_ewma",
        "name",
        "speaks",
        "transport",
        "transports",
    )

    transport: NodeTransport  # set by configure

    def __init__(self, config: NodeConfig, transports: TransportFactory) -> None:
        self.transports = transports
        self.inflight = 0
        # With active checks on, a new node starts unproven: it serves after its first
        # successful probe (or in panic mode).
        self.health = NodeHealth.for_node(config)
        self.latency_ewma: float | None = None  # seconds to first byte, recent requests
        self.configure(config)

    def configure(self, config: NodeConfig) -> None:
        """Adopt a (reloaded) config for the same URL."""
        self.config = config
        self.name = config.name
        self.base_url = config.base_url
        origin = Origin.from_url(config.base_url)
        self.base_path = origin.base_path
        self.credential = node_credential(config)
        self.speaks: frozenset[DialectName] = config.speaks
        own = key_codec(config.speaks).nodes
        # Where a probe checks the node's key (health paths rarely do): its model list.
        self.key_check_path = own.key_check_path
        # Headers its dialect wants on every request (Anthropic's version), unless the
        # client sent its own.
        self.dialect_headers = own.headers
        old: NodeTransport | None = getattr(self, "transport", None)  # None on the first call
        # A new transport for new timeouts; the old one's idle connections close now, its
        # busy ones when their answers end.
        self.transport = self.transports(config)
        if old is not None:
            old.close()
        self.health.check = config.health
        self.health.ejection = config.ejection

    def probe_target(self, path: str) -> str:
        """The request target for probing `path` (which may carry a query) on this node."""
        path, _, query = path.partition("?")
        return request_path(self.base_path + path, query)

    @property
    def retired(self) -> bool:
        """No longer in routes.yaml (its health says so); its last requests may still run."""
        return self.health.state is NodeState.RETIRED

    def has_room(self) -> bool:
        """Fewer requests in flight than max_inflight."""
        return self.inflight < self.config.max_inflight

    def is_selectable(self, now: float) -> bool:
        """Whether a new request may go to this node now (router.routing.health's rule)."""
        return self.health.is_selectable(now, has_room=self.has_room())

    def observe_latency(self, seconds: float) -> None:
        """Fold one time-to-first-byte into the recent average (for /admin/nodes)."""
        old = self.latency_ewma
        self.latency_ewma = seconds if old is None else old + 0.2 * (seconds - old)

    def latency_ms(self) -> float | None:
        return None if self.latency_ewma is None else round(self.latency_ewma * 1000, 2)

    def release(self) -> None:
        """One request ended; a retired node closes its pool after its last one."""
        self.inflight -= 1
        if self.retired and self.inflight == 0:
            self.close_soon()

    def close_soon(self) -> None:
        """Close the node's connections (it left the config, or the router stops)."""
        self.transport.close()


class NodePool:
    """The set of live nodes, updated in place on reload."""

    def __init__(self, transports: TransportFactory) -> None:
        self.transports = transports  # builds each node's transport (a fake in tests)
        self.nodes: dict[str, NodeRuntime] = {}

    def get(self, name: str) -> NodeRuntime:
        return self.nodes[name]

    def apply(self, configs: Mapping[str, NodeConfig]) -> None:
        """Make the pool match a config: keep unchanged nodes, add new, retire removed."""
        updated: dict[str, NodeRuntime] = {}
        for name, config in configs.items():
            old = self.nodes.get(name)
            same = old is not None and (old.config.url, old.config.api_key) == (
                config.url,
                config.api_key,
            )
            if old is not None and same:
                old.configure(config)
                updated[name] = old
            else:
                if old is not None:
                    self._retire(old)
                updated[name] = NodeRuntime(config, self.transports)
        for name, old in self.nodes.items():
            if name not in updated:
                self._retire(old)
        self.nodes = updated

    def _retire(self, node: NodeRuntime) -> None:
        # When does not matter (nothing asks a retired record); the loop's clock is the
        # monotonic one, for asyncio and uvloop alike.
        node.health.retire(time.monotonic())
        if node.inflight == 0:
            node.close_soon()

    async def close(self) -> None:
        """Close every connection pool (shutdown)."""
        for node in self.nodes.values():
            node.close_soon()
        self.nodes = {}


def node_credential(config: NodeConfig) -> tuple[str, str] | None:
    """The header that carries the node's credential: its api_key the way its dialect
    expects it (router.dialects.registry.key_codec), or the user and password of its URL
    as Basic auth (routes.yaml refuses both at once)."""
    if config.api_key:
        return key_codec(config.speaks).nodes.credential(config.api_key)
    if config.basic_auth is not None:
        encoded = base64.b64encode(config.basic_auth.encode()).decode("ascii")
        return "Authorization", f"Basic {encoded}"
    return None
