"""Run Claude Code (`@anthropic-ai/claude-code`, in tests/claude_code) in print mode.

`make node-sdks` installs it there with `npm ci` when npm is present; without node or
the installed package the tests that need it skip, saying what is missing.

Claude Code runs with an empty environment but for what points it at the router (the
base URL, the key as `ANTHROPIC_AUTH_TOKEN`, a Bearer token, or `ANTHROPIC_API_KEY`,
sent as `x-api-key`), a home of its own (its settings, sessions), and every switch that
keeps it from calling anything but that URL: telemetry, error reports, the auto-updater
and the rest of its non-essential traffic off. Only loopback is reached (checked once
with strace when this was written: its only connections went to the router).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest

CLAUDE_DIR = Path(__file__).resolve().parents[1] / "claude_code"
CLAUDE = CLAUDE_DIR / "node_modules" / ".bin" / "claude"
_INSTALLED = CLAUDE_DIR / "node_modules" / ".installed"
CLAUDE_TIMEOUT = 90.0
# Everything Claude Code would call besides the API it is pointed at, turned off.
QUIET = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    # An error comes back at once: Claude Code would retry even a 401 for minutes.
    "CLAUDE_CODE_MAX_RETRIES": "0",
}
Auth = Literal["auth_token", "api_key"]


def missing_claude_code() -> str | None:
    """Why Claude Code cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed: the Claude Code tests are skipped"
    if not _INSTALLED.exists() or not CLAUDE.exists():
        return "Claude Code is not installed: run `make node-sdks` (needs npm)"
    return None


def run_claude(
    prompt: str,
    *,
    base_url: str,
    key: str,
    model: str,
    cwd: Path,
    home: Path,
    auth: Auth = "auth_token",
    thinking_budget: int | None = None,
) -> dict[str, Any]:
    """`claude -p PROMPT --output-format json` against the router; its JSON result (an
    API error is one too, with `is_error`). Output that is no such result fails the test
    with all Claude Code printed."""
    reason = missing_claude_code()
    if reason is not None:
        pytest.skip(reason)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_AUTH_TOKEN" if auth == "auth_token" else "ANTHROPIC_API_KEY": key,
        # The model of its background calls too, should print mode make any.
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        **QUIET,
    }
    if thinking_budget is not None:  # 0: no thinking (Claude Code asks for it by default)
        env["MAX_THINKING_TOKENS"] = str(thinking_budget)
    command = [str(CLAUDE), "-p", prompt, "--model", model, "--output-format", "json"]
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CLAUDE_TIMEOUT,
        check=False,
    )
    out = completed.stdout.decode(errors="replace")
    err = completed.stderr.decode(errors="replace")
    try:
        result: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        result = {}
    if result.get("type") != "result" or (completed.returncode != 0) != result["is_error"]:
        raise AssertionError(
            f"claude exited {completed.returncode}\nstdout:\n{out}\nstderr:\n{err}"
        )
    return result
