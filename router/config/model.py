"""The typed, frozen configuration model built once from routes.yaml.

Nothing here reads files or the environment: `router.config.loader` turns YAML into
these objects and validates it. Everything the hot path needs (upstream URLs, prepared
headers, per-model tiers, compiled globs) is computed here at load time.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from router.config.affinity import Affinity
from router.config.hedging import Hedge
from router.config.keys import KeyRecord
from router.config.observability import ObservabilityConfig
from router.config.sentinel import RedisSentinel
from router.errors import FailureReason


class Strategy(StrEnum):
    """How a node is chosen within one priority tier."""

    WEIGHTED = "weighted"  # smooth weighted round-robin (nginx's algorithm)
    LEAST_INFLIGHT = "least_inflight"
    LATENCY = "latency"  # power of two choices scored by peak EWMA time to first byte


class MidstreamPolicy(StrEnum):
    """What a model's stream does when its node fails after the first byte."""

    ERROR = "error"  # end the stream with one error event (the default)
    CONTINUE = "continue"  # ask the next candidate to continue the answer


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; `first_byte` runs from request sent to the first response byte,
    `first_token` (off when None) from request sent to the first content chunk."""

    connect: float = 2.0
    first_byte: float = 60.0
    first_token: float | None = None
    idle: float = 120.0
    total: float = 900.0


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Active probing of one node (`health: false` sets enabled=False)."""

    enabled: bool = True
    path: str = "/health"
    # Whether routes.yaml names the path (`router check` warns about the implicit default).
    path_chosen: bool = False
    interval: float = 5.0
    timeout: float = 2.0
    unhealthy_threshold: int = 3
    healthy_threshold: int = 2


@dataclass(frozen=True, slots=True)
class Ejection:
    """Passive outlier detection, after Envoy's."""

    consecutive_failures: int = 3
    base_seconds: float = 5.0
    max_seconds: float = 300.0
    max_percent: float = 50.0


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Retries may add at most `percent`% to recent requests; `min_concurrent` always pass."""

    percent: float = 20.0
    min_concurrent: int = 3


# The failures a same-node retry may follow; anything else (a 4xx, a stream cut
# mid-answer) is never repeated on the node that said it.
RETRIED_REASONS: tuple[FailureReason, ...] = (
    FailureReason.STATUS_5XX,
    FailureReason.RESET,
    FailureReason.CONNECT,
    FailureReason.STATUS_429,
    FailureReason.TIMEOUT,
)


@dataclass(frozen=True, slots=True)
class SameNodeRetry:
    """Retries on the same node, by kind of failure."""

    status_5xx: int = 1
    reset: int = 1
    connect: int = 1
    status_429: int = 1
    timeout: int = 0

    def times(self, reason: FailureReason) -> int:
        """How many same-node retries a failure of this kind allows (0: none)."""
        return int(getattr(self, reason.value)) if reason in RETRIED_REASONS else 0

    @classmethod
    def uniform(cls, times: int) -> SameNodeRetry:
        """`retry_same_node: N`: N for every kind but timeouts."""
        return cls(status_5xx=times, reset=times, connect=times, status_429=times, timeout=0)


@dataclass(frozen=True, slots=True)
class RetryWait:
    """Seconds before a same-node retry: a node's Retry-After up to `max`, else backoff."""

    base: float = 0.5
    max: float = 10.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"  # loopback unless asked: deployments set 0.0.0.0 (deploy/)
    port: int = 8080
    max_body_mb: float = 64.0
    prefixes: tuple[str, ...] = ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini")
    keepalive_interval: float = 15.0
    shutdown_delay: float = 5.0
    shutdown_grace: float = 30.0
    admin_token: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[str, ...] = ()
    ui: bool = True  # the playground, account and status pages (router.web.pages)
    # With keys configured the model list needs a key too, unless the operator opts out.
    public_models: bool = False
    body_timeout: float = 60.0  # seconds to receive a whole request body (else 408)
    # Seconds a connection may take to send a complete request head, counted from when it
    # opens or its previous answer ended; also how long an idle kept-alive one is kept.
    header_timeout: float = 75.0
    # Seconds a client may leave a write of its answer waiting (it does not read) before
    # it is cut: its fault, never the node's (router.proxy.client.WriteWatch).
    write_timeout: float = 60.0
    # Node response headers a client may see besides router.upstream.headers.TO_CLIENT
    # (lower-cased names), e.g. a provider's own; none by default.
    node_headers: tuple[str, ...] = ()

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class Defaults:
    timeouts: Timeouts = Timeouts()
    retries: int = 2
    health: HealthCheck = HealthCheck()
    ejection: Ejection = Ejection()
    retry_budget: RetryBudget = RetryBudget()
    retry_same_node: SameNodeRetry = SameNodeRetry()
    retry_wait: RetryWait = RetryWait()


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One backend worker. `url` is its base, without `/v1`."""

    name: str
    url: str
    api_key: str | None = field(default=None, repr=False)
    basic_auth: str | None = field(default=None, repr=False)  # "user:password" from the URL
    max_inflight: int = 512
    timeouts: Timeouts = Timeouts()
    retries: int = 2
    health: HealthCheck = HealthCheck()
    ejection: Ejection = Ejection()
    retry_same_node: SameNodeRetry = SameNodeRetry()
    retry_wait: RetryWait = RetryWait()

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True, slots=True)
class Backend:
    """One node serving a model; `upstream_model` renames the model sent to the node."""

    node: str
    weight: int = 1
    priority: int = 0
    upstream_model: str | None = None


@dataclass(frozen=True, slots=True)
class Pricing:
    """One model's prices in micro-credits: the reservation and rates per 1,000 tokens.

    `pre_deduct` None (the default, `auto` in routes.yaml) reserves each request's worst
    case (router.billing.pricing.reservation); a number is a flat reservation.
    """

    pre_deduct: int | None = None
    prompt_per_1k: int = 0
    completion_per_1k: int = 0
    reasoning_per_1k: int = 0

    def __post_init__(self) -> None:
        for name in ("pre_deduct", "prompt_per_1k", "completion_per_1k", "reasoning_per_1k"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0")

    @property
    def is_free(self) -> bool:
        """Nothing to charge: every rate is 0 and no flat reservation is set."""
        rates = (self.prompt_per_1k, self.completion_per_1k, self.reasoning_per_1k)
        return not any(rates) and not self.pre_deduct


@dataclass(frozen=True, slots=True)
class TokenLimits:
    """A model's context and answer sizes, reported by the model endpoints (None: unknown)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class StateConfig:
    """routes.yaml `state:`. `reservation_ttl` should exceed the longest request's total timeout.

    Redis is reached at `redis_url`, or through Sentinel when `redis_sentinel` is set."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may hold a password
    redis_sentinel: RedisSentinel | None = None
    on_error: Literal["closed", "open"] = "closed"
    ledger_path: str | None = None
    reservation_ttl: float = 960.0
    prefix: str = "router:"
    timeout: float = 1.0
    max_connections: int = 64


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A model (or glob) and the nodes that serve it, grouped into priority tiers."""

    name: str
    backends: tuple[Backend, ...]
    aliases: tuple[str, ...] = ()
    strategy: Strategy = Strategy.WEIGHTED
    fallbacks: tuple[str, ...] = ()
    inject_usage: bool = True
    pricing: Pricing | None = None
    limits: TokenLimits = TokenLimits()
    affinity: Affinity | None = None
    hedge: Hedge | None = None
    # Node error codes that send the request to other models: (code, model names) pairs.
    fallbacks_on: tuple[tuple[str, tuple[str, ...]], ...] = ()
    on_midstream_failure: MidstreamPolicy = MidstreamPolicy.ERROR
    prefill: bool = True  # its nodes accept an assistant (model) turn last, to continue it

    @property
    def is_glob(self) -> bool:
        return any(ch in self.name for ch in "*?[")

    @property
    def tiers(self) -> tuple[tuple[Backend, ...], ...]:
        """Backends grouped by priority, lowest number first."""
        levels = sorted({b.priority for b in self.backends})
        return tuple(tuple(b for b in self.backends if b.priority == p) for p in levels)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole route table. `resolve` finds the route for a requested model name."""

    version: int
    server: ServerConfig
    defaults: Defaults
    nodes: Mapping[str, NodeConfig]
    models: Mapping[str, ModelRoute]
    source: str = "<memory>"
    state: StateConfig = field(default_factory=StateConfig)
    keys: tuple[KeyRecord, ...] = ()
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    _exact: Mapping[str, ModelRoute] = field(default_factory=dict, repr=False, compare=False)
    _globs: tuple[tuple[re.Pattern[str], ModelRoute], ...] = field(
        default=(), repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        *,
        version: int,
        server: ServerConfig,
        defaults: Defaults,
        nodes: Mapping[str, NodeConfig],
        models: Mapping[str, ModelRoute],
        source: str = "<memory>",
        state: StateConfig | None = None,
        keys: tuple[KeyRecord, ...] = (),
        observability: ObservabilityConfig | None = None,
    ) -> Config:
        """Assemble a config and its lookup tables (exact names and aliases, then globs)."""
        exact: dict[str, ModelRoute] = {}
        globs: list[tuple[re.Pattern[str], ModelRoute]] = []
        for route in models.values():
            if route.is_glob:
                globs.append((re.compile(fnmatch.translate(route.name)), route))
            else:
                exact[route.name] = route
            for alias in route.aliases:
                exact.setdefault(alias, route)
        return cls(
            version=version,
            server=server,
            defaults=defaults,
            nodes=dict(nodes),
            models=dict(models),
            source=source,
            state=state or StateConfig(),
            keys=keys,
            observability=observability or ObservabilityConfig(),
            _exact=exact,
            _globs=tuple(globs),
        )

    def resolve(self, model: str) -> ModelRoute | None:
        """The route serving `model`: an exact name or alias wins over a glob."""
        route = self._exact.get(model)
        if route is not None:
            return route
        for pattern, candidate in self._globs:
            if pattern.match(model):
                return candidate
        return None

    def listed_routes(self) -> list[tuple[str, ModelRoute]]:
        """`listed_models` with the route serving each name."""
        return list(self._exact.items())

    def listed_models(self) -> list[str]:
        """Names a client can ask for: every exact model name and alias (globs are not listable)."""
        return list(self._exact)
