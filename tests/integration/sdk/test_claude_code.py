"""Claude Code itself, in print mode, through a real router (issue 29).

`claude -p ... --output-format json` with `ANTHROPIC_BASE_URL` set to the router and the
router's key in `ANTHROPIC_AUTH_TOKEN` (sent as a Bearer token) or `ANTHROPIC_API_KEY`
(sent as `x-api-key`), its non-essential traffic off (tests/support/claude_code.py).
One router in front of one mock node per kind in `KINDS` (`anthropic`: relayed byte for
byte; `gemini` and `openai`: single-dialect nodes, translated). Each run shows the
node's answer coming back, billed in the ledger as Claude Code was told (with the thinking
Claude Code asks for by default, and without it); a second run,
whose scripted node answers with a `Read` tool call, shows Claude Code reading a file
and the final answer, made of the file's text, coming back.
Skipped, saying why, where npm did not install Claude Code.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from router.mock.answers import Answer, MockSettings
from tests.support import MockNodes, Proc
from tests.support.billing import FLOW_PRICING, JsonlView, billing_config, key_hash
from tests.support.claude_code import Auth, missing_claude_code, run_claude
from tests.support.waiting import eventually_blocking

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_claude_code() is not None, reason=str(missing_claude_code())),
]

NODE_KEY = f"sk-node-{secrets.token_hex(6)}"
KEY = f"sk-cc-{secrets.token_hex(8)}"
KINDS = ["anthropic", "gemini", "openai"]
MOCK_NODES = {kind: ("--dialect", kind, "--api-key", NODE_KEY, "--chunks", "3") for kind in KINDS}
# What each node answers (its name is in the text).
ANSWERS = {kind: Answer.of(MockSettings(name=kind, chunks=3)) for kind in KINDS}
NOTES = "The secret word is pelican."


class Setup:
    def __init__(self, router: Proc, view: JsonlView, home: Path) -> None:
        self.router = router
        self.view = view
        self.home = home

    def ask(
        self,
        prompt: str,
        kind: str,
        cwd: Path,
        auth: Auth = "auth_token",
        key: str = KEY,
        thinking_budget: int | None = None,
    ) -> Any:
        return run_claude(
            prompt,
            base_url=self.router.base_url,
            key=key,
            model=f"m-{kind}",
            cwd=cwd,
            home=self.home,
            auth=auth,
            thinking_budget=thinking_budget,
        )

    def billed_since(self, seen: int, requests: int) -> list[dict[str, Any]]:
        """The ledger records after the first `seen`, once `requests` of them are there."""

        def settled() -> list[dict[str, Any]]:
            records = self.view.records()[seen:]
            return records if len(records) >= requests else []

        records = eventually_blocking(settled)
        assert len(records) == requests, self.view.records()[seen:]
        return records


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Any) -> Setup:
    folder = tmp_path_factory.mktemp("claude_code")
    nodes = {
        kind: {"url": mock_nodes[kind].url, "api_key": NODE_KEY, "dialect": kind}
        for kind in MOCK_NODES
    }
    models = {
        f"m-{kind}": {"backends": [{"node": kind}], "pricing": FLOW_PRICING} for kind in MOCK_NODES
    }
    keys = [{"name": "claude", "hash": key_hash(KEY), "models": ["m-*"], "credits": 1000}]
    state = {"backend": "memory", "ledger_path": str(folder / "usage.jsonl")}
    text = billing_config(nodes=nodes, models=models, state=state, keys=keys)
    return Setup(routers.get(text), JsonlView(folder / "usage.jsonl"), folder / "home")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, fresh_nodes: MockNodes) -> str:
    """The kind of node the model of this test is served by."""
    value: str = request.param
    return value


@pytest.mark.parametrize("auth", ["auth_token", "api_key"])
def test_print_mode_returns_the_nodes_answer(
    setup: Setup, kind: str, auth: Auth, tmp_path: Path
) -> None:
    seen = len(setup.view.records())
    result = setup.ask("Say hello.", kind, tmp_path, auth)
    assert result["is_error"] is False and result["subtype"] == "success", result
    assert result["result"] == ANSWERS[kind].content
    assert result["num_turns"] == 1
    (record,) = setup.billed_since(seen, 1)
    usage = result["usage"]
    assert (record["key"], record["model"], record["status"]) == ("claude", f"m-{kind}", 200)
    assert record["prompt_tokens"] == usage["input_tokens"]
    assert record["completion_tokens"] + record["reasoning_tokens"] == usage["output_tokens"]
    # Claude Code asks for thinking (`adaptive`, effort high) unless told not to.
    assert record["reasoning_tokens"] == ANSWERS[kind].reasoning_tokens > 0


def test_with_thinking_off_none_is_billed(setup: Setup, kind: str, tmp_path: Path) -> None:
    seen = len(setup.view.records())
    result = setup.ask("Say hello.", kind, tmp_path, thinking_budget=0)  # thinking off
    assert result["is_error"] is False and result["result"] == ANSWERS[kind].content, result
    (record,) = setup.billed_since(seen, 1)
    # Claude Code still asks for effort high: a Gemini node thinks at that budget (and
    # bills it, shown or not), an OpenAI node reasons unasked (the seeds' reasoning_content).
    assert (record["reasoning_tokens"] > 0) is (kind != "anthropic")
    assert (
        record["completion_tokens"] + record["reasoning_tokens"] == result["usage"]["output_tokens"]
    )


def test_a_read_tool_call_reads_the_file(
    setup: Setup, kind: str, mock_nodes: MockNodes, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES + "\n", encoding="utf-8")
    mock_nodes[kind].faults(tool_call={"name": "Read", "arguments": {"file_path": str(notes)}})
    seen = len(setup.view.records())
    result = setup.ask("What do my notes say?", kind, tmp_path)
    assert result["is_error"] is False and result["num_turns"] == 2, result
    # The scripted node answers a tool result with its text: the file, as Read numbers it.
    assert result["result"].startswith("Tool result: ") and NOTES in result["result"]
    records = setup.billed_since(seen, 2)
    assert [record["status"] for record in records] == [200, 200]
    assert sum(record["prompt_tokens"] for record in records) == result["usage"]["input_tokens"]


@pytest.mark.parametrize("auth", ["auth_token", "api_key"])
def test_a_wrong_key_fails_to_authenticate(
    setup: Setup, kind: str, auth: Auth, tmp_path: Path, mock_nodes: MockNodes
) -> None:
    result = setup.ask("Say hello.", kind, tmp_path, auth, key="sk-cc-wrong")
    assert result["is_error"] is True and result["api_error_status"] == 401, result
    assert "invalid or missing API key" in result["result"]  # the router's message
    assert mock_nodes[kind].requests() == 0
