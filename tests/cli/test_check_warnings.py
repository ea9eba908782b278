"""router.cli.check.recovery_warnings: settings that silently switch a feature off."""

from __future__ import annotations

from pathlib import Path

from router.cli.check import recovery_warnings
from router.config.loader import load_config

CONFIG = """\
version: 1
server: {{write_timeout: {write_timeout}}}
nodes:
  a: {{url: "http://127.0.0.1:9001", retries: {retries}, timeouts: {{total: {total}}}}}
  b: {{url: "http://127.0.0.1:9002"}}
models:
  m:
    backends: [{{node: a}}, {{node: b, priority: 2}}]
    on_midstream_failure: {policy}
"""


def _warnings(tmp_path: Path, **values: object) -> list[str]:
    settings = {"write_timeout": 60, "retries": 2, "total": 900, "policy": "continue"}
    path = tmp_path / "routes.yaml"
    path.write_text(CONFIG.format(**{**settings, **values}), encoding="utf-8")
    return recovery_warnings(load_config(str(path)))


def test_a_sound_config_has_no_warning(tmp_path: Path) -> None:
    assert _warnings(tmp_path) == []


def test_retries_zero_on_a_continuing_models_node_is_named(tmp_path: Path) -> None:
    [warning] = _warnings(tmp_path, retries=0)
    assert warning.startswith("warning: models.m.on_midstream_failure: continue never happens")
    assert "node a" in warning and "retries: 0" in warning
    assert _warnings(tmp_path, retries=0, policy="error") == []


def test_a_write_timeout_not_below_a_nodes_total_is_named(tmp_path: Path) -> None:
    [warning] = _warnings(tmp_path, total=60)
    assert "server.write_timeout (60 s)" in warning and "nodes.a.timeouts.total (60 s)" in warning
    assert _warnings(tmp_path, total=60.5) == []
