"""router.mock.answers: the mock node's deterministic answers, without a server (tables)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.mock.answers import (
    REASONING_TOKENS,
    Answer,
    MockSettings,
    chat_completion,
    chat_stream,
    gemini_answer,
    gemini_prompt_tokens,
    gemini_stream,
    invalid_body,
    openai_prompt_tokens,
    wants_json,
    wants_thoughts,
)

ANSWER = Answer.of(MockSettings(name="n1", chunks=3))


def test_answer_texts_and_tokens() -> None:
    assert ANSWER.content_parts == ("Hello from n1.", " Part 2 of 3.", " Part 3 of 3.")
    assert ANSWER.content == "Hello from n1. Part 2 of 3. Part 3 of 3."
    assert ANSWER.reasoning == "Thinking about the question. Answering as n1."
    assert ANSWER.content_tokens == 12


OPENAI_PROMPTS = [
    pytest.param([], 1, id="no messages"),
    pytest.param([{"role": "user", "content": "abcd"}], 2, id="4 chars"),
    pytest.param([{"role": "user", "content": "abc"}], 1, id="3 chars"),
    pytest.param(
        [{"content": [{"type": "text", "text": "abcd"}, {"type": "image_url"}]}, {"content": "ab"}],
        2,
        id="parts and strings add up",
    ),
    pytest.param(["junk", {"content": 7}], 1, id="junk is ignored"),
]


@pytest.mark.parametrize(("messages", "tokens"), OPENAI_PROMPTS)
def test_openai_prompt_tokens(messages: list[Any], tokens: int) -> None:
    assert openai_prompt_tokens(messages) == tokens


GEMINI_PROMPTS = [
    pytest.param({}, 1, id="empty"),
    pytest.param({"contents": [{"parts": [{"text": "abcdefgh"}]}]}, 3, id="contents"),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "abcd"}]}],
            "systemInstruction": {"parts": [{"text": "abcd"}]},
        },
        3,
        id="with systemInstruction",
    ),
    pytest.param(
        {"contents": [], "system_instruction": {"parts": [{"text": "abcd"}]}},
        2,
        id="snake_case system_instruction",
    ),
]


@pytest.mark.parametrize(("body", "tokens"), GEMINI_PROMPTS)
def test_gemini_prompt_tokens(body: dict[str, Any], tokens: int) -> None:
    assert gemini_prompt_tokens(body) == tokens


INVALID = [
    pytest.param({"model": "m", "messages": []}, True, None, id="chat ok"),
    pytest.param({"messages": []}, True, "model must be a string", id="chat without model"),
    pytest.param({"model": "m", "messages": "x"}, True, "messages must be a list", id="messages"),
    pytest.param({}, False, None, id="gemini without contents"),
    pytest.param({"contents": {}}, False, "contents must be a list", id="gemini contents"),
]


@pytest.mark.parametrize(("body", "is_chat", "problem"), INVALID)
def test_invalid_body(body: dict[str, Any], is_chat: bool, problem: str | None) -> None:
    assert invalid_body(body, is_chat) == problem


CHAT = {"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]}


def test_chat_completion_counts_reasoning_inside_completion() -> None:
    answer = chat_completion(CHAT, ANSWER, "chatcmpl-1", 7)
    assert answer["choices"][0]["message"]["content"] == ANSWER.content
    usage = answer["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (3, 12 + REASONING_TOKENS)
    assert usage["total_tokens"] == 3 + 12 + REASONING_TOKENS
    assert usage["completion_tokens_details"]["reasoning_tokens"] == REASONING_TOKENS


@pytest.mark.parametrize(
    ("options", "usage_always", "has_usage"),
    [
        pytest.param(None, False, False, id="not asked"),
        pytest.param({"include_usage": True}, False, True, id="asked"),
        pytest.param({"include_usage": "yes"}, False, False, id="asked wrongly"),
        pytest.param(None, True, True, id="always"),
    ],
)
def test_chat_stream_frames(options: object, usage_always: bool, has_usage: bool) -> None:
    body = {**CHAT, "stream": True, "stream_options": options}
    frames = chat_stream(body, ANSWER, "chatcmpl-1", 7, usage_always=usage_always)
    assert frames[-1] == b"data: [DONE]\n\n"
    assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in frames)
    events = [orjson.loads(f[6:]) for f in frames[:-1]]
    # role, 2 reasoning deltas, 3 content deltas, finish, then the usage chunk when asked.
    assert len(events) == 7 + has_usage
    assert events[0]["choices"][0]["delta"] == {"content": "", "role": "assistant"}
    assert [e["choices"][0]["delta"].get("content") for e in events[3:6]] == list(
        ANSWER.content_parts
    )
    assert events[6]["choices"][0]["finish_reason"] == "stop"
    if has_usage:
        assert events[7]["choices"] == [] and events[7]["usage"]["prompt_tokens"] == 3
        assert events[7]["system_fingerprint"] == ""
    assert all(e["usage"] is None for e in events[:7])


def test_chat_stream_litellm_usage_chunk() -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    frames = chat_stream(body, ANSWER, "chatcmpl-1", 7, usage_always=False, litellm_usage=True)
    usage = orjson.loads(frames[-2][6:])
    assert usage["choices"] == [{"index": 0, "delta": {}}]
    assert usage["usage"]["prompt_tokens"] == 3


GEMINI = {"contents": [{"parts": [{"text": "abcdefgh"}]}]}


def test_gemini_answer_keeps_thoughts_apart() -> None:
    answer = gemini_answer(GEMINI, ANSWER, "gemini-2.5-flash", "rid")
    assert answer["candidates"][0]["content"]["parts"] == [{"text": ANSWER.content}]
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 12,
        "totalTokenCount": 3 + 12 + REASONING_TOKENS,
        "thoughtsTokenCount": REASONING_TOKENS,
    }


def test_gemini_stream_sse_frames() -> None:
    frames = gemini_stream(GEMINI, ANSWER, "gemini-2.5-flash", "rid", is_sse=True)
    assert len(frames) == 3
    assert all(f.startswith(b"data: ") and f.endswith(b"\r\n\r\n") for f in frames)
    chunks = [orjson.loads(f[6:]) for f in frames]
    assert ["usageMetadata" in c for c in chunks] == [False, False, True]


def test_gemini_stream_json_array_frames() -> None:
    frames = gemini_stream(GEMINI, ANSWER, "gemini-2.5-flash", "rid", is_sse=False)
    assert frames[0].startswith(b"[") and frames[1].startswith(b",\r\n")
    assert frames[-1].endswith(b"]")
    array = orjson.loads(b"".join(frames))
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in array] == list(
        ANSWER.content_parts
    )


@pytest.mark.parametrize(
    ("argv", "stall_after", "reject_prefill"),
    [([], None, False), (["--stall-after", "3", "--reject-prefill"], 3, True)],
)
def test_mock_cli_sets_midstream_faults(
    argv: list[str], stall_after: int | None, reject_prefill: bool
) -> None:
    import argparse

    from router.mock.cli import add_arguments, faults_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    faults = faults_from_args(parser.parse_args(["--port", "9", *argv]))
    assert (faults.stall_after, faults.reject_prefill) == (stall_after, reject_prefill)


THINKING = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}


@pytest.mark.parametrize(
    ("body", "asks"),
    [
        ({"response_format": {"type": "json_object"}}, True),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, True),
        ({"response_format": {"type": "text"}}, False),
        ({"generationConfig": {"responseMimeType": "application/json"}}, True),
        ({"generation_config": {"response_mime_type": "application/json"}}, True),
        ({"generationConfig": {"responseMimeType": "text/plain"}}, False),
        ({"generationConfig": "no"}, False),
        ({}, False),
    ],
)
def test_wants_json(body: dict[str, Any], asks: bool) -> None:
    assert wants_json(body) is asks


def test_a_json_answer_is_the_content_as_a_document_in_as_many_pieces() -> None:
    answer = ANSWER.in_json()
    assert orjson.loads(answer.content) == {"answer": ANSWER.content}
    assert "".join(answer.content_parts) == answer.content
    assert len(answer.content_parts) == 3 and answer.content_tokens == ANSWER.content_tokens


def test_gemini_thoughts_only_when_asked() -> None:
    assert wants_thoughts(THINKING) and not wants_thoughts({"generationConfig": {}})
    plain = gemini_answer({}, ANSWER, "m", "r")
    assert [p.get("thought") for p in plain["candidates"][0]["content"]["parts"]] == [None]
    thinking = gemini_answer({**THINKING}, ANSWER, "m", "r", "MAX_TOKENS")
    parts = thinking["candidates"][0]["content"]["parts"]
    assert parts == [{"text": ANSWER.reasoning, "thought": True}, {"text": ANSWER.content}]
    assert thinking["candidates"][0]["finishReason"] == "MAX_TOKENS"
    frames = gemini_stream({**THINKING}, ANSWER, "m", "r", is_sse=True, finish="SAFETY")
    chunks = [orjson.loads(f.removeprefix(b"data: ")) for f in frames]
    firsts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    assert [p.get("thought", False) for p in firsts] == [True, True, False, False, False]
    assert chunks[-1]["candidates"][0]["finishReason"] == "SAFETY"
    assert "usageMetadata" in chunks[-1] and "usageMetadata" not in chunks[0]


def test_an_openai_finish_reason_as_given() -> None:
    body = {"model": "m", "messages": []}
    assert chat_completion(body, ANSWER, "c", 1, "length")["choices"][0]["finish_reason"] == (
        "length"
    )
    frames = chat_stream(body, ANSWER, "c", 1, usage_always=False, finish="content_filter")
    assert orjson.loads(frames[-2][6:])["choices"][0]["finish_reason"] == "content_filter"
