"""`router check`'s warnings about dialects (issue 28 item 2), pure: a model whose nodes,
fallbacks' included, no client of some dialect can reach, natively or translated, is
warned about, nothing else."""

from __future__ import annotations

import dataclasses

import pytest

from router.cli.check import dialect_warnings, model_calling_hint
from router.config.loader import parse_config
from router.dialects import registry
from router.dialects.names import DialectName

CONFIG = """\
version: 1
nodes:
  both: {{url: "http://127.0.0.1:9001"}}
  google: {{url: "http://127.0.0.1:9002", dialect: gemini}}
  vllm: {{url: "http://127.0.0.1:9003", dialect: openai}}
  claude: {{url: "http://127.0.0.1:9004", dialect: anthropic}}
models:
{models}
"""


def warnings_for(models: str) -> list[str]:
    return dialect_warnings(parse_config(CONFIG.format(models=models), environ={}))


@pytest.mark.parametrize(
    "models",
    [
        # `both` (the default) is OpenAI and Gemini: Anthropic's clients need a node of theirs
        "  m: {backends: [{node: both}, {node: claude}]}",
        "  m: {backends: [{node: google}, {node: vllm}, {node: claude}]}",  # one node of each
        "  m: {backends: [{node: google}, {node: vllm, priority: 1}, {node: claude}]}",
        "  m: {backends: [{node: google}], fallbacks: [f]}\n"
        "  f: {backends: [{node: both}, {node: claude}]}",
    ],
)
def test_no_warning_when_every_dialect_reaches_a_node(models: str) -> None:
    assert warnings_for(models) == []


def test_a_model_served_in_one_dialect_only_is_no_mistake_once_translation_covers_it() -> None:
    found = warnings_for(
        "  g: {backends: [{node: google}]}\n  o: {backends: [{node: vllm}]}\n"
        "  f: {backends: [{node: google}], fallbacks: [g]}"
    )
    assert found == []  # each dialect's clients reach the other's nodes by translation


def test_what_translation_cannot_reach_is_still_warned_about() -> None:
    """A dialect without a translation (a relay-only one) reaches only its own nodes."""
    openai, gemini = registry.codec(DialectName.OPENAI), registry.codec(DialectName.GEMINI)
    relay_only = dataclasses.replace(openai, translation=None)
    assert not registry.can_reach(relay_only, frozenset({DialectName.GEMINI}))
    assert registry.can_reach(relay_only, frozenset({DialectName.OPENAI}))
    assert registry.can_reach(gemini, frozenset({DialectName.OPENAI}))


@pytest.mark.parametrize(
    ("path", "calls"),
    [
        ("/v1/chat/completions", True),
        ("/v1/embeddings/", True),
        ("/v1/responses?x=1", True),
        ("/v1beta/models/m:generateContent", True),
        ("/v1beta/models/m:countTokens", False),  # free at Google
        ("/v1beta/models/m:batchEmbedContents", True),
        ("/health", False),
        ("/v1/models", False),
        ("/v1/messages", True),
        ("/v1/messages/count_tokens", False),  # free at Anthropic
    ],
)
def test_health_paths_that_call_a_model_in_any_dialect(path: str, calls: bool) -> None:
    assert (model_calling_hint(path) is not None) is calls
