"""Our OpenAI -> Gemini request translation against an independent implementation:
LiteLLM's Gemini provider (run in its own process, pointed at a capturing server on
loopback) turns the same OpenAI requests into the Gemini bodies it would send. The
bodies are compared field by field; every difference is a choice listed in
docs/translation.md, and named here per request, so a new difference fails the test."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest

from router.dialects.chat import WireRequest
from router.dialects.gemini.translate import GEMINI_MAPPING
from router.dialects.openai.translate import OPENAI_MAPPING
from router.dialects.translation import translate_request
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

MODEL = "gemini-2.5-flash"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TANGLED = {
    "type": "function",
    "function": {
        "name": "book",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "guest": {"$ref": "#/$defs/Guest"},
                "nights": {"type": ["integer", "null"]},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["guest"],
            "$defs": {
                "Guest": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "minLength": 1}},
                    "required": ["name"],
                    "additionalProperties": False,
                }
            },
        },
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
ROME = {
    "id": "call_2",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
}
HI = [{"role": "user", "content": "hi"}]
IMAGE = "data:image/png;base64,iVBORw0KGgo="

# (name, OpenAI request fields, the paths where our body differs by choice)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("plain", {"messages": HI}, set()),
    ("system", {"messages": [{"role": "system", "content": "be brief"}, *HI]}, set()),
    ("developer", {"messages": [{"role": "developer", "content": "be brief"}, *HI]}, set()),
    (
        "multi-turn",
        {
            "messages": [
                *HI,
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "more"},
            ]
        },
        set(),
    ),
    ("consecutive users merge", {"messages": [*HI, {"role": "user", "content": "again"}]}, set()),
    (
        "image data url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": IMAGE}},
                    ],
                }
            ]
        },
        set(),
    ),
    (
        "image url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "{BASE}/cat.png"}}],
                }
            ]
        },
        # LiteLLM downloads the image; we pass the URL (fileData). LiteLLM adds a blank
        # text part to a message of media only
        {"contents.0.parts.0", "contents.0.parts.1"},
    ),
    (
        "audio",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_audio",
                            "input_audio": {"data": "UklGRg==", "format": "wav"},
                        }
                    ],
                }
            ]
        },
        {"contents.0.parts.1"},  # LiteLLM's blank text part beside media alone
    ),
    ("max_tokens", {"messages": HI, "max_tokens": 20}, set()),
    ("max_completion_tokens", {"messages": HI, "max_completion_tokens": 30}, set()),
    ("sampling", {"messages": HI, "temperature": 0.2, "top_p": 0.9}, set()),
    ("stop", {"messages": HI, "stop": ["END", "STOP"]}, set()),
    ("n and seed", {"messages": HI, "n": 2, "seed": 42}, set()),
    ("penalties", {"messages": HI, "presence_penalty": 0.5, "frequency_penalty": 0.3}, set()),
    ("json_object", {"messages": HI, "response_format": {"type": "json_object"}}, set()),
    (
        "json_schema",
        {
            "messages": HI,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "r",
                    "schema": {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}},
                        "required": ["a"],
                    },
                },
            },
        },
        # LiteLLM sends responseJsonSchema to Gemini 2+ model names; we send the
        # responseSchema subset to every node
        {"generationConfig.responseSchema", "generationConfig.responseJsonSchema"},
    ),
    ("tools auto", {"messages": HI, "tools": [WEATHER]}, set()),
    (
        "tool_choice required",
        {"messages": HI, "tools": [WEATHER], "tool_choice": "required"},
        set(),
    ),
    ("tool_choice none", {"messages": HI, "tools": [WEATHER], "tool_choice": "none"}, set()),
    (
        "tool_choice named",
        {
            "messages": HI,
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        set(),
    ),
    (
        "tool round trip",
        {
            "messages": [
                *HI,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": [WEATHER],
        },
        # Google's placeholder signature on a call the history has no signature for;
        # LiteLLM adds it for Gemini 3 model names only
        {"contents.1.parts.0.thoughtSignature"},
    ),
    (
        "parallel calls",
        {
            "messages": [
                *HI,
                {"role": "assistant", "content": None, "tool_calls": [CALL, ROME]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
                {"role": "tool", "tool_call_id": "call_2", "content": '{"temp": 21}'},
            ],
            "tools": [WEATHER],
        },
        {"contents.1.parts.0.thoughtSignature"},
    ),
    (
        "reasoning effort",
        {"messages": HI, "reasoning_effort": "low"},
        {"generationConfig.thinkingConfig.includeThoughts"},  # LiteLLM shows thoughts unasked
    ),
    (
        "reasoning with thoughts",
        {"messages": HI, "reasoning_effort": "high", "include_thoughts": True},
        # Google's own OpenAI endpoint maps high to 24K tokens of thinking; LiteLLM to 4K
        {"generationConfig.thinkingConfig.thinkingBudget"},
    ),
    ("user dropped", {"messages": HI, "user": "u-1"}, set()),
    (
        "tool schema with $defs and nulls",
        {"messages": HI, "tools": [TANGLED]},
        # LiteLLM keeps a nullable type as a one-branch anyOf; we write the branch itself
        {
            "tools.0.functionDeclarations.0.parameters.properties.nights",
            "tools.0.functionDeclarations.0.parameters.properties.note",
        },
    ),
    (
        "assistant text and calls",
        {
            "messages": [
                *HI,
                {"role": "assistant", "content": "let me check", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "user", "content": "thanks"},
            ],
            "tools": [WEATHER],
        },
        # the tool results and the next user text are one user turn for us (Gemini's
        # turns alternate); LiteLLM sends two user turns in a row
        {"contents.1.parts.1.thoughtSignature", "contents.2", "contents.3"},
    ),
]


def ours(fields: dict[str, Any], base: str) -> dict[str, Any]:
    body = json.loads(json.dumps({"model": MODEL, **fields}).replace("{BASE}", base))
    return dict(translate_request(OPENAI_MAPPING, GEMINI_MAPPING, WireRequest(body, MODEL))[1].body)


# Gemini reads camelCase and snake_case alike; LiteLLM writes most names in snake_case.
def camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def camel(value: Any, under_user_data: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            (k if under_user_data else camel_key(k)): camel(
                v, k in ("properties", "args", "response")
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(leaves(item, f"{path}.{i}"))
        return out
    return {path: value}


def differences(mine: dict[str, Any], theirs: dict[str, Any], documented: set[str]) -> set[str]:
    """The leaf paths where the bodies differ, outside the documented subtrees."""
    a, b = leaves(mine), leaves(camel(theirs))
    differ = {p for p in a.keys() | b.keys() if a.get(p, "<absent>") != b.get(p, "<absent>")}
    return {p for p in differ if not any(p == d or p.startswith(d + ".") for d in documented)}


@pytest.fixture(scope="module")
def litellm_bodies() -> list[Any]:
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed (pip install -e '.[test]')")
    script = REPO_ROOT / "tests" / "support" / "litellm_capture.py"
    requests = [{"model": MODEL, **fields} for _, fields, _ in CASES]
    done = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(("name", "fields", "documented"), CASES, ids=[c[0] for c in CASES])
def test_same_gemini_body_as_litellm(
    litellm_bodies: list[Any], name: str, fields: dict[str, Any], documented: set[str]
) -> None:
    theirs = litellm_bodies[[c[0] for c in CASES].index(name)]
    assert theirs is not None, "LiteLLM refused a request we translate"
    mine = ours(fields, "http://127.0.0.1")
    assert differences(mine, theirs, documented) == set(), (mine, camel(theirs))
    differ = differences(mine, theirs, set())
    for path in documented:  # each listed difference is real, or the list is stale
        assert any(p == path or p.startswith(path + ".") for p in differ), (
            f"{path} no longer differs"
        )
