"""Active health checks: each node probed on its health path every `interval`.

Each node gets its own task with a random phase and +/-10% jitter on every interval, so
several replicas (or many nodes) never probe in lockstep. Probes carry the node's key,
so a node disabled by a 401 comes back once its key works again. What a probe result
means for the node's state is decided by `router.routing.health`, not here.
"""

from __future__ import annotations

import asyncio
import random

from router.errors import UpstreamFailure
from router.observability.observer import Observer
from router.routing.health import NodeState
from router.routing.probes import MissingPathNotice, probe_passed
from router.tasks import cancel_and_wait
from router.upstream.nodes import NodePool, NodeRuntime

# Probe answers that say the node refused its own key (the probe asks for no model).
KEY_REFUSED = frozenset({401, 403})


class HealthProber:
    """Keeps one probe task per node with active checks on, in step with the config."""

    def __init__(self, pool: NodePool, observer: Observer, rng: random.Random | None = None):
        self.pool = pool
        self.observer = observer
        self.rng = rng or random.Random()
        self.tasks: dict[str, tuple[NodeRuntime, asyncio.Task[None]]] = {}

    def sync(self) -> None:
        """Start probes for new nodes, stop them for removed or check-less ones."""
        loop = asyncio.get_running_loop()
        wanted = {
            name: node for name, node in self.pool.nodes.items() if node.config.health.enabled
        }
        for name, node in self.pool.nodes.items():
            if name not in wanted:  # checks turned off: nothing will prove it, it serves
                self.observer.transitions(node.health.stop_checks(loop.time()))
        for name, (node, task) in list(self.tasks.items()):
            if wanted.get(name) is not node:
                task.cancel()
                del self.tasks[name]
        for name, node in wanted.items():
            if name not in self.tasks:
                self.tasks[name] = (node, loop.create_task(self._run(node)))

    async def stop(self) -> None:
        await cancel_and_wait(task for _, task in self.tasks.values())
        self.tasks = {}

    async def probe_once(self, node: NodeRuntime) -> int | None:
        """One probe: the health path's status, None without an answer within the timeout.

        A node disabled by a 401 (or a 403 on a probe) is probed on its dialect's model
        list instead (`NodeSide.key_check_path`): health paths rarely check keys, and only
        an endpoint that does can tell the key works again.
        """
        check = node.config.health
        disabled = node.health.state is NodeState.DISABLED
        path = node.key_check_path if disabled else check.path
        headers = [node.credential] if node.credential else []
        headers.extend(node.dialect_headers)
        try:
            return await node.transport.get(node.probe_target(path), headers, check.timeout)
        except UpstreamFailure:
            return None

    async def _run(self, node: NodeRuntime) -> None:
        loop = asyncio.get_running_loop()
        first = True
        notice = MissingPathNotice()
        while True:
            check = node.config.health
            if not first:
                await asyncio.sleep(check.interval * self.rng.uniform(0.9, 1.1))
            first = False
            probed = node.health.state  # probe_once picks its path from it
            status = await self.probe_once(node)
            if notice.should_report(status, probed, node.config):
                path = node.config.health.path
                self.observer.log.warning(
                    "health_path_not_found",
                    node=node.name,
                    path=path,
                    detail=f"GET {path} answered 404: set health.path to the node's health "
                    "endpoint, or health: false to rely on passive ejection only",
                )
            if status in KEY_REFUSED and probed is not NodeState.DISABLED:
                # The probe carries the node's key: a refusal is a key problem.
                self.observer.transitions(node.health.record_auth_failure(loop.time()))
                continue
            ok = probe_passed(status)
            if ok and node.health.state is NodeState.UNPROVEN:
                self.observer.log.info("node_ready", node=node.name)
            self.observer.transitions(node.health.record_probe(ok, loop.time()))
