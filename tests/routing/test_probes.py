"""What a probe's answer means: pass/fail, and when a 404 is worth one log line."""

from __future__ import annotations

import pytest

from router.config.model import HealthCheck, NodeConfig
from router.routing.health import NodeState
from router.routing.probes import MissingPathNotice, lacks_health_path, probe_passed

NODE = NodeConfig("n", "http://x")
MOVED = NodeConfig("n", "http://x", health=HealthCheck(path="/healthz"))


@pytest.mark.parametrize("status,passed", [
    (200, True), (204, True), (299, True),
    (None, False),  # no answer within the timeout
    (199, False), (301, False), (404, False), (500, False), (503, False),
])  # fmt: skip
def test_probe_passed(status, passed):
    assert probe_passed(status) is passed


@pytest.mark.parametrize("status,probed,missing", [
    (404, NodeState.UNPROVEN, True),
    (404, NodeState.HEALTHY, True),
    (404, NodeState.EJECTED, True),
    (404, NodeState.DRAINING, True),
    (404, NodeState.DISABLED, False),  # probed on /v1/models, not on health.path
    (200, NodeState.UNPROVEN, False),
    (500, NodeState.UNPROVEN, False),
    (410, NodeState.UNPROVEN, False),
    (None, NodeState.UNPROVEN, False),
])  # fmt: skip
def test_lacks_health_path(status, probed, missing):
    assert lacks_health_path(status, probed) is missing


def reports(notice: MissingPathNotice, probes: list[tuple[int | None, NodeConfig]]) -> list[bool]:
    return [notice.should_report(status, NodeState.UNPROVEN, cfg) for status, cfg in probes]


@pytest.mark.parametrize("probes,expected", [
    ([(404, NODE)] * 4, [True, False, False, False]),  # once per node
    ([(200, NODE), (404, NODE), (404, NODE)], [False, True, False]),
    ([(None, NODE), (500, NODE)], [False, False]),
    ([(404, NODE), (404, MOVED), (404, MOVED)], [True, True, False]),  # config changed
    ([(404, NODE), (200, MOVED), (404, NODE)], [True, False, True]),  # changed, then back
    ([(404, NODE), (200, NODE), (404, NODE)], [True, False, False]),  # same config: no repeat
])  # fmt: skip
def test_missing_path_is_reported_once_per_config(probes, expected):
    assert reports(MissingPathNotice(), probes) == expected


def test_a_disabled_node_404_is_not_reported_and_does_not_use_up_the_notice():
    notice = MissingPathNotice()
    assert not notice.should_report(404, NodeState.DISABLED, NODE)
    assert notice.should_report(404, NodeState.UNPROVEN, NODE)
