"""The live route table: the active config, its balancers and the node pool.

`RouteTable.install` swaps in a new config in one synchronous step, so a request sees
either the old table or the new one, never a mix. Requests already running keep the
objects they picked.
"""

from __future__ import annotations

from router.config.model import Config, ModelRoute
from router.dialects.names import DialectName
from router.dialects.registry import ALL, can_reach
from router.routing.balancer import ModelBalancer
from router.routing.retry_budget import RetryBudgetTracker
from router.upstream.nodes import NodePool, NodeRuntime
from router.upstream.reasons import Redactor
from router.upstream.transport import TransportFactory


class RouteTable:
    """What the proxy consults for every request."""

    def __init__(self, config: Config, transports: TransportFactory) -> None:
        self.pool = NodePool(transports)
        self.config = config
        self.balancers: dict[str, ModelBalancer] = {}
        self.chains: dict[str, tuple[tuple[ModelRoute, ModelBalancer], ...]] = {}
        self.redirects: dict[tuple[str, str], tuple[tuple[ModelRoute, ModelBalancer], ...]] = {}
        self.budgets: dict[str, RetryBudgetTracker] = {}
        self.panic_models: dict[str, float] = {}  # model -> last time panic mode was used
        self.redactor = Redactor(config.nodes.values())
        self._speakers: dict[str, frozenset[frozenset[DialectName]]] = {}
        # Built at load, read per request (plain dicts: no call on the hot path). `reached`:
        # the client dialects some node of a model (or its fallbacks) can take, natively
        # or translated (registry.can_reach); `spoken_by_all`: the dialects every one of
        # them speaks, for which a plan passes no node over.
        self.reached: dict[str, frozenset[DialectName]] = {}
        self.spoken_by_all: dict[str, frozenset[DialectName]] = {}

    def install(self, config: Config) -> None:
        """Make `config` active (call on the event loop: node pools may be created)."""
        self.pool.apply(config.nodes)
        self.balancers = {name: ModelBalancer(route) for name, route in config.models.items()}
        self.chains = {name: self._chain(route, config) for name, route in config.models.items()}
        self.redirects = {
            (name, code): self._routes(targets, config, route)
            for name, route in config.models.items()
            for code, targets in route.fallbacks_on
        }
        # Budgets keep their recent history across a reload unless their settings changed.
        keep = config.defaults.retry_budget == self.config.defaults.retry_budget
        old = self.budgets if keep else {}
        self.budgets = {
            name: old.get(name) or RetryBudgetTracker(config.defaults.retry_budget)
            for name in config.models
        }
        self.redactor = Redactor(config.nodes.values())  # built at load, used on errors
        self._speakers = {
            name: frozenset(
                config.nodes[b.node].speaks
                for served, _ in self.chains[name]
                for b in served.backends
                if b.node in config.nodes
            )
            for name in config.models
        }
        self.reached = {
            name: frozenset(
                codec.name for codec in ALL if any(can_reach(codec, s) for s in speakers)
            )
            for name, speakers in self._speakers.items()
        }
        self.spoken_by_all = {
            name: frozenset.intersection(*speakers) if speakers else frozenset()
            for name, speakers in self._speakers.items()
        }
        self.config = config

    def chain(self, route: ModelRoute) -> tuple[tuple[ModelRoute, ModelBalancer], ...]:
        """The route, then each of its fallbacks, with their balancers (built at load)."""
        return self.chains[route.name]

    def redirect(
        self, route: ModelRoute, code: str
    ) -> tuple[tuple[ModelRoute, ModelBalancer], ...] | None:
        """The models `fallbacks_on` names for a node error `code`, or None."""
        return self.redirects.get((route.name, code))

    def _chain(
        self, route: ModelRoute, config: Config
    ) -> tuple[tuple[ModelRoute, ModelBalancer], ...]:
        return ((route, self.balancers[route.name]), *self._routes(route.fallbacks, config, route))

    def _routes(
        self, names: tuple[str, ...], config: Config, route: ModelRoute
    ) -> tuple[tuple[ModelRoute, ModelBalancer], ...]:
        """The models `names` resolve to, each once and never `route` itself."""
        found: list[tuple[ModelRoute, ModelBalancer]] = []
        seen = {route.name}
        for name in names:
            other = config.resolve(name)
            if other is not None and other.name not in seen:
                seen.add(other.name)
                found.append((other, self.balancers[other.name]))
        return tuple(found)

    def speakers(self, route: ModelRoute) -> frozenset[frozenset[DialectName]]:
        """The sets of dialects the nodes of `route` and its fallbacks speak (built at load)."""
        return self._speakers.get(route.name, frozenset())

    def node(self, name: str) -> NodeRuntime:
        return self.pool.nodes[name]

    def is_ready(self, now: float) -> bool:
        """At least one node can take a request."""
        return any(node.is_selectable(now) for node in self.pool.nodes.values())
