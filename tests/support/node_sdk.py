"""Run a script against the official Node SDKs (`openai`, `@google/genai`) in tests/node.

`make test` installs them there with `npm ci` when npm is present. Without node or the
installed packages the tests that need them skip, saying what is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
_INSTALLED = NODE_DIR / "node_modules" / ".installed"
NODE_TIMEOUT = 60.0

# JavaScript for a script that sets a mock node's faults and reads what it was last sent,
# through the `/_mock/*` controls that MockNode.faults and last_request call, so one Node
# process can cover several faults in turn. `node` names an environment variable holding
# the mock node's URL.
MOCK_CONTROLS = """
async function faults(node, fields) {
  for (const body of [{reset: true}, fields]) {
    const r = await fetch(process.env[node] + "/_mock/faults", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (!r.ok) throw new Error(`faults ${node} -> ${r.status}`);
  }
}
async function sent(node) {
  return (await (await fetch(process.env[node] + "/_mock/last_request")).json()).body;
}
"""

# JavaScript: `tappedFetch` fetches as `fetch` does and keeps a copy of each response in
# `taps`, so a script can read the raw bytes (keep-alives) of a stream an SDK consumed.
FETCH_TAP = """
const realFetch = globalThis.fetch;
const taps = [];
async function tappedFetch(...args) {
  const response = await realFetch(...args);
  taps.push(response.clone());
  return response;
}
"""


def missing_node_sdks() -> str | None:
    """Why the Node SDK tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed: the Node SDK tests are skipped"
    if not _INSTALLED.exists():
        return "the Node SDKs are not installed: run `make node-sdks` (needs npm)"
    return None


def needs_node_sdks() -> None:
    """Skip the calling test, with the reason, when the Node SDKs are missing."""
    reason = missing_node_sdks()
    if reason is not None:
        pytest.skip(reason)


def run_node(script: str, env: Mapping[str, str] | None = None) -> Any:
    """Run an ES module `script` in tests/node; it prints one JSON document last.

    Returns that document. The script's own failure (a non-zero exit) fails the test with
    its output, so an SDK exception that the script did not expect is visible.
    """
    needs_node_sdks()
    node = shutil.which("node")
    assert node is not None
    completed = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=NODE_DIR,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    out = completed.stdout.decode(errors="replace")
    err = completed.stderr.decode(errors="replace")
    if completed.returncode != 0:
        raise AssertionError(f"node exited {completed.returncode}\nstdout:\n{out}\nstderr:\n{err}")
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, f"the node script printed nothing\nstderr:\n{err}"
    return json.loads(lines[-1])
