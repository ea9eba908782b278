"""Reading an OpenAI-compatible answer as it streams by: its first token, what it says.

The first token (router.dialects.first_token): a streamed answer often opens with events
that say nothing yet (the role-only chunk, the Responses API's `response.created`); the
first one with a content, reasoning, refusal, tool-call or audio delta, a finish reason,
usage or an error is the first token, and so is anything not recognised.

The continuation (router.dialects.continuation): chat chunks' content and reasoning
deltas (both spellings of the reasoning read once), the finish reason, and whether the
answer can be handed to another node (one choice, text only).
"""

from __future__ import annotations

from typing import Any

import orjson

from router.dialects.codec import Transcribing
from router.dialects.openai.delivered import has_finish_reason, output_chars
from router.dialects.openai.usage import USAGE_MARK, add_usage, is_usage_only, usage_from_openai
from router.dialects.usage import Usage

# Delta fields that carry content (any non-empty one is the first token).
_DELTA_CONTENT = (
    "content",
    "reasoning_content",
    "reasoning",
    "tool_calls",
    "refusal",
    "function_call",
    "audio",
)
# Responses API events sent before any output.
_RESPONSES_OPENING = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    }
)
_REASONING_KEYS = ("reasoning_content", "reasoning")  # DeepSeek/vLLM, and OpenRouter's


def has_content(event: Any) -> bool:
    """Whether one decoded event carries content (see the module's list)."""
    if not isinstance(event, dict):
        return True
    if "choices" in event:
        return _choices_have_content(event)
    kind = event.get("type")
    if isinstance(kind, str):
        return kind not in _RESPONSES_OPENING
    return True


def _choices_have_content(event: dict[str, Any]) -> bool:
    choices = event["choices"]
    if not isinstance(choices, list) or event.get("usage") or "error" in event:
        return True
    for choice in choices:
        if not isinstance(choice, dict):
            return True
        if choice.get("finish_reason") is not None or choice.get("text"):
            return True
        delta = choice.get("delta", choice.get("message"))
        if delta is None:
            continue
        if not isinstance(delta, dict):
            return True
        if any(delta.get(name) for name in _DELTA_CONTENT):
            return True
    return False


def transcribe(document: dict[str, Any], into: Transcribing) -> None:
    """What one chat chunk says; rewritten (its role gone, a restart's repeats cut) when
    it continues another node's answer."""
    choices = document.get("choices")
    if not isinstance(choices, list):
        return
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if choice.get("index", 0) != 0:
            into.continuable = False
        if choice.get("finish_reason") is not None:
            into.finished = True
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        if delta.get("tool_calls") or delta.get("function_call"):  # LiteLLM sends nulls
            into.continuable = False
        if into.rewriting:
            delta.pop("role", None)
        if "content" in delta:
            said = into.said(delta["content"], False)
            if into.rewriting:
                _keep_text(delta, "content", said)
        keys = [key for key in _REASONING_KEYS if key in delta]
        if keys:  # a node sending both spellings sends the same text twice: read once
            said = into.said(delta[keys[0]], True)
            if into.rewriting:
                for key in keys:
                    _keep_text(delta, key, said)


def _keep_text(delta: dict[str, Any], key: str, said: str) -> None:
    if said:
        delta[key] = said
    else:
        del delta[key]


def is_content_free(document: Any) -> bool:
    """A rewritten chunk left with nothing for the client (its role chunk, or deltas a
    restart had already sent)."""
    if not isinstance(document, dict) or isinstance(document.get("usage"), dict):
        return False
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(
        isinstance(c, dict) and c.get("finish_reason") is None and not c.get("delta")
        for c in choices
    )


class OpenAIAnswers:
    """router.dialects.codec.Answers for OpenAI-compatible answers."""

    __slots__ = ()
    usage_mark = USAGE_MARK
    identity_fields: tuple[str, ...] = ("id", "created", "model", "system_fingerprint")
    passed_headers: frozenset[str] = frozenset({"openai-processing-ms"})
    passed_prefixes: tuple[str, ...] = ()

    # The module's functions themselves: no extra call on the paths that run per event.
    usage = staticmethod(usage_from_openai)
    is_usage_only = staticmethod(is_usage_only)
    has_content = staticmethod(has_content)
    output_chars = staticmethod(output_chars)
    has_finish_reason = staticmethod(has_finish_reason)
    transcribe = staticmethod(transcribe)
    add_usage = staticmethod(add_usage)
    is_content_free = staticmethod(is_content_free)

    def later_usage(self, earlier: Usage, report: Usage) -> Usage:
        return report  # every report is the whole usage so far

    def frame(self, document: Any) -> bytes:
        return b"data: " + orjson.dumps(document) + b"\n\n"
