"""`router keys` needs only the variables of `state:` and `keys:` (issue 30): a routes.yaml
whose admin token or node key comes from an unset variable still lists its keys, and the
error for a variable it does use counts its problems in `router check`'s words. In
process (the command's `main`), memory backend: no server, no socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli.main import main

ROUTES = """\
version: 1
server:
  admin_token: ${ROUTER_TEST_UNSET_ADMIN_TOKEN}
nodes:
  node62: {url: "http://127.0.0.1:9001", api_key: "${ROUTER_TEST_UNSET_NODE_KEY}"}
models:
  m: {backends: [{node: node62}]}
keys:
  - {name: team-a, key: "KEY", credits: 10}
"""


@pytest.fixture(autouse=True)
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROUTER_TEST_UNSET_ADMIN_TOKEN", "ROUTER_TEST_UNSET_NODE_KEY", "ROUTER_TEST_K"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, key: str) -> str:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.replace("KEY", key), encoding="utf-8")
    return str(path)


def test_keys_list_ignores_variables_it_does_not_use(tmp_path: Path, capsys) -> None:
    # Before: "routes.yaml: 2 problem(s):" about ROUTER_TEST_UNSET_ADMIN_TOKEN and the node key.
    assert main(["keys", "list", "--config", write(tmp_path, "sk-plain-key")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("team-a  10")


def test_a_variable_the_keys_use_is_still_needed(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "${ROUTER_TEST_K}")
    assert main(["keys", "list", "--config", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}: 1 problem"  # router check's words, not "1 problem(s):"
    assert err[1].endswith("keys[0].key: environment variable ROUTER_TEST_K is not set")
