"""Token usage as each dialect reports it, reduced to three disjoint counts (a table each)."""

from __future__ import annotations

import pytest

from router.dialects.usage import Usage, usage_from_gemini, usage_from_openai


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # completion_tokens INCLUDES reasoning: text = completion - reasoning
        (
            {
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 250,
                    "completion_tokens_details": {"reasoning_tokens": 200},
                }
            },
            Usage(prompt=100, completion=50, reasoning=200),
        ),
        ({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}, Usage(7, 3, 0)),
        (
            {
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": 3,
                    "completion_tokens_details": None,
                }
            },
            Usage(7, 3, 0),
        ),
        # Responses API shape
        (
            {
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 40,
                    "output_tokens_details": {"reasoning_tokens": 30},
                }
            },
            Usage(10, 10, 30),
        ),
        # inconsistent reasoning > completion: never negative, never double
        (
            {
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": 5,
                    "completion_tokens_details": {"reasoning_tokens": 9},
                }
            },
            Usage(1, 0, 5),
        ),
        # embeddings: prompt tokens only
        ({"object": "list", "usage": {"prompt_tokens": 8, "total_tokens": 8}}, Usage(8, 0, 0)),
        # a Responses stream's `response.completed` event: usage inside `response`
        (
            {
                "type": "response.completed",
                "response": {
                    "usage": {
                        "input_tokens": 6,
                        "output_tokens": 20,
                        "output_tokens_details": {"reasoning_tokens": 4},
                    }
                },
            },
            Usage(6, 16, 4),
        ),
        ({"type": "response.created", "response": {"usage": None}}, None),
        ({"usage": None}, None),  # stream chunks before the last
        ({"choices": []}, None),
        ({"usage": {}}, None),
        ("not an object", None),
        ({"usage": {"prompt_tokens": -3, "completion_tokens": "x"}}, Usage(0, 0, 0)),
    ],
)
def test_usage_from_openai(obj, expected):
    assert usage_from_openai(obj) == expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # candidatesTokenCount does NOT include thoughtsTokenCount
        (
            {
                "usageMetadata": {
                    "promptTokenCount": 100,
                    "candidatesTokenCount": 50,
                    "thoughtsTokenCount": 200,
                    "totalTokenCount": 350,
                }
            },
            Usage(prompt=100, completion=50, reasoning=200),
        ),
        (
            {"usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2}},
            Usage(8, 2, 0),
        ),
        (
            {
                "usageMetadata": {
                    "promptTokenCount": 8,
                    "toolUsePromptTokenCount": 4,
                    "candidatesTokenCount": 2,
                }
            },
            Usage(12, 2, 0),
        ),
        ({"usageMetadata": {"promptTokenCount": 8}}, Usage(8, 0, 0)),
        ({"candidates": []}, None),
        (None, None),
    ],
)
def test_usage_from_gemini(obj, expected):
    assert usage_from_gemini(obj) == expected
