"""What one active health probe's answer means, apart from the node's state.

Pure: the prober (router.upstream.prober) sends the probe and feeds `probe_passed` into
`NodeHealth.record_probe`; `MissingPathNotice` decides when a 404 on the health path is
worth a log line, so an operator learns once per node what to set instead of watching
the node flap between unproven and ejected with no hint why.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.config.model import NodeConfig
from router.routing.health import NodeState


def probe_passed(status: int | None) -> bool:
    """Whether a probe's answer (None: no answer in time) shows the node is up."""
    return status is not None and 200 <= status < 300


def lacks_health_path(status: int | None, probed: NodeState) -> bool:
    """Whether a probe sent in state `probed` shows the node has no such health path.

    A 404 on the configured path means the check itself is wrong (most often a node with
    no health endpoint), not that the node is down. A disabled node is probed on
    /v1/models instead, whose 404 says nothing about `health.path`.
    """
    return status == 404 and probed is not NodeState.DISABLED


@dataclass(slots=True)
class MissingPathNotice:
    """Reports a missing health path once per node, and again only after its config changes."""

    config: NodeConfig | None = None  # the node's config as of the last probe
    reported: bool = False  # already reported for that config

    def should_report(self, status: int | None, probed: NodeState, config: NodeConfig) -> bool:
        """Whether this probe's answer calls for the `health_path_not_found` line now."""
        if config != self.config:
            self.config, self.reported = config, False
        if self.reported or not lacks_health_path(status, probed):
            return False
        self.reported = True
        return True
