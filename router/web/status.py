"""The status page's document (`GET /admin/status`): nodes, models' backends, recent traffic.

Pure: built from the admin API's node document, the active config and the observer's
traffic ring; `router.web.admin` serves it behind the admin token.
"""

from __future__ import annotations

from typing import Any

from router.config.model import Config
from router.observability.traffic import Traffic


def status_document(
    nodes: dict[str, Any], config: Config, traffic: Traffic, monotonic_now: float
) -> dict[str, Any]:
    """`nodes` is /admin/nodes' document; each backend gets the share of answers it gave."""
    models = {}
    for route in config.models.values():
        counts = traffic.shares(route.name)
        total = sum(counts.values())
        models[route.name] = {
            "strategy": route.strategy.value,
            "aliases": list(route.aliases),
            "backends": [
                {
                    "node": b.node,
                    "weight": b.weight,
                    "tier": b.priority,
                    "answered": counts.get(b.node, 0),
                    "share": round(counts.get(b.node, 0) / total, 4) if total else None,
                }
                for b in route.backends
            ],
        }
    return {**nodes, "models": models, "traffic": traffic.series(monotonic_now)}
