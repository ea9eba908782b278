"""`router check`: validate routes.yaml and summarise it."""

from __future__ import annotations

from typing import TextIO

from router.billing.pricing import DEFAULT_OUTPUT_CAP
from router.config.loader import load_config
from router.config.model import Config, MidstreamPolicy, ModelRoute
from router.dialects import registry
from router.dialects.names import DialectName, describe
from router.errors import ConfigError


def summarise(config: Config) -> list[str]:
    """A short human summary: nodes, then each model with its tiers and weights."""
    lines = [f"{config.source}: valid (version {config.version})"]
    lines.append(f"nodes ({len(config.nodes)}):")
    for node in config.nodes.values():
        lines.append(f"  {node.name}  max_inflight={node.max_inflight}  retries={node.retries}")
    lines.append(f"models ({len(config.models)}):")
    for route in config.models.values():
        extra = f"  aliases={','.join(route.aliases)}" if route.aliases else ""
        lines.append(f"  {route.name}  strategy={route.strategy.value}{extra}")
        total_tiers = route.tiers
        for level, tier in enumerate(total_tiers):
            total = sum(b.weight for b in tier)
            parts = []
            for b in tier:
                renamed = f" as {b.upstream_model}" if b.upstream_model else ""
                parts.append(f"{b.node} w={b.weight} ({100 * b.weight / total:.0f}%){renamed}")
            lines.append(f"    tier {tier[0].priority if tier else level}: " + ", ".join(parts))
        if route.fallbacks:
            lines.append(f"    fallbacks: {', '.join(route.fallbacks)}")
    return lines


# A probe at a path that calls a model costs money (and a hanging model fails the probe
# of a whole node): each dialect names its own such paths (NodeSide.model_calling_path).
DEFAULT_PATH_HINT = (
    "health.path is not set and defaults to /health, which on a LiteLLM proxy runs a "
    "completion for every model: set /health/liveliness there, keep /health on vLLM by "
    "writing it, or health: false"
)


def model_calling_hint(path: str) -> str | None:
    """Why a probe at node path `path` would call a model, in any dialect (None: none)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    for codec in registry.ALL:
        hint = codec.nodes.model_calling_path(path)
        if hint is not None:
            return hint
    return None


def health_warnings(config: Config) -> list[str]:
    """One warning per node whose active health path is known to call models."""
    lines = []
    for node in config.nodes.values():
        check = node.health
        if not check.enabled:
            continue
        hint = model_calling_hint(check.path)
        if not check.path_chosen:
            hint = DEFAULT_PATH_HINT
        if hint is not None:
            lines.append(f"warning: nodes.{node.name}.health: {hint}")
    return lines


def pricing_warnings(config: Config) -> list[str]:
    """One warning per priced model whose reservation has to guess the output cap."""
    lines = []
    for route in config.models.values():
        pricing = route.pricing
        if pricing is None or pricing.pre_deduct is not None or pricing.is_free:
            continue
        if route.limits.output_tokens is None:
            lines.append(
                f"warning: models.{route.name}.pricing: without pre_deduct each request "
                f"reserves its worst case, and for a request that sets no output cap that "
                f"assumes at most {DEFAULT_OUTPUT_CAP} output tokens; set "
                "limits.output_tokens to the model's real cap (or a flat pre_deduct)"
            )
    return lines


def _chain_speakers(config: Config, route: ModelRoute) -> set[frozenset[DialectName]]:
    """What the nodes of `route` and of its fallbacks speak (the nodes a request may reach)."""
    chain = [route, *(found for name in route.fallbacks if (found := config.resolve(name)))]
    return {
        config.nodes[backend.node].speaks
        for served in chain
        for backend in served.backends
        if backend.node in config.nodes
    }


def dialect_warnings(config: Config) -> list[str]:
    """One warning per model and dialect whose clients no node of the model (or of its
    fallbacks) can take, natively or translated (registry.can_reach): their requests
    would all get 400 dialect_not_served. A model served by one dialect's nodes only is
    no mistake once translation covers the other dialect; until then it is warned about."""
    lines = []
    for route in config.models.values():
        speakers = _chain_speakers(config, route)
        spoken = describe(frozenset().union(*speakers))
        for codec in registry.ALL:
            if not any(registry.can_reach(codec, speaks) for speaks in speakers):
                lines.append(
                    f"warning: models.{route.name}: no node of it or of its fallbacks takes "
                    f"{codec.name} requests (they speak {spoken}, and translation cannot "
                    f"reach them): its {codec.name} clients get 400 dialect_not_served"
                )
    return lines


def recovery_warnings(config: Config) -> list[str]:
    """Settings that silently switch a feature off: `on_midstream_failure: continue` on a
    model whose node has `retries: 0` (a continuation is one of that node's retries), and
    a `server.write_timeout` not below a node's total timeout (a client that stops
    reading would run into the node's timeout first, and count against the node)."""
    lines = []
    for route in config.models.values():
        if route.on_midstream_failure is not MidstreamPolicy.CONTINUE:
            continue
        for backend in route.backends:
            node = config.nodes.get(backend.node)
            if node is not None and node.retries == 0:
                lines.append(
                    f"warning: models.{route.name}.on_midstream_failure: continue never "
                    f"happens for answers of node {node.name}: it has retries: 0, and a "
                    "continuation is one of its retries (give it retries: 1 or more)"
                )
    write_timeout = config.server.write_timeout
    for node in config.nodes.values():
        if node.timeouts.total <= write_timeout:
            lines.append(
                f"warning: server.write_timeout ({write_timeout:g} s) is not below "
                f"nodes.{node.name}.timeouts.total ({node.timeouts.total:g} s): a client that "
                "stops reading runs into the node's total timeout first, which counts "
                "against the node; lower write_timeout"
            )
    return lines


def check_command(path: str, out: TextIO, err: TextIO) -> int:
    """Exit 0 and print a summary when valid; exit 1 listing every problem otherwise."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.headline(), file=err)
        print(exc.render(), file=err)
        return 1
    for warning in [
        *health_warnings(config),
        *pricing_warnings(config),
        *recovery_warnings(config),
        *dialect_warnings(config),
    ]:
        print(warning, file=err)
    print("\n".join(summarise(config)), file=out)
    return 0
