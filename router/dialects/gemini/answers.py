"""Reading a Gemini answer as it streams by: its usage, first token, what it says.

Usage is `usageMetadata`; Gemini repeats cumulative usage on stream chunks (the reader
keeps the last one), and tool-use prompt tokens are not part of `promptTokenCount` and
are added to it. The first token is the first candidate part with text, a thought, a
function call or other data, a finish reason or a prompt block. The continuation reads
text and thought parts (a thoughtSignature beside them is still text); any other part
(a function call, inline data) means the answer cannot be handed to another node.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.dialects.codec import Transcribing
from router.dialects.gemini.delivered import has_finish_reason, output_chars
from router.dialects.usage import Usage, reported_count, token_count

USAGE_MARK = re.compile(rb'"usageMetadata"')
_PART_NOTES = frozenset({"thought", "thoughtSignature"})  # beside a part's text


def usage_from_gemini(obj: Any) -> Usage | None:
    """Usage from a Gemini response or stream chunk (its `usageMetadata`), or None."""
    meta = obj.get("usageMetadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    return Usage(
        prompt=token_count(meta, "promptTokenCount") + token_count(meta, "toolUsePromptTokenCount"),
        completion=token_count(meta, "candidatesTokenCount"),
        reasoning=token_count(meta, "thoughtsTokenCount"),
    )


def has_content(event: Any) -> bool:
    """Whether one decoded event carries content (see the module's docstring)."""
    if not isinstance(event, dict) or "candidates" not in event:
        return True
    candidates = event["candidates"]
    if not isinstance(candidates, list) or "promptFeedback" in event or "error" in event:
        return True
    for candidate in candidates:
        if not isinstance(candidate, dict) or candidate.get("finishReason"):
            return True
        content = candidate.get("content")
        if content is None:
            continue
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            return True
        for part in parts:
            if not isinstance(part, dict) or part.get("text"):
                return True
            if any(key not in ("text", "thought", "thoughtSignature") for key in part):
                return True  # a function call, inline data, executable code, ...
    return False


def transcribe(document: dict[str, Any], into: Transcribing) -> None:
    """What one chunk says; rewritten (a restart's repeats cut) when it continues another
    node's answer."""
    candidates = document.get("candidates")
    if not isinstance(candidates, list):
        return
    for candidate in candidates:
        if not isinstance(candidate, dict):
            continue
        if candidate.get("index", 0) != 0:
            into.continuable = False
        if candidate.get("finishReason") is not None:
            into.finished = True
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            continue
        kept = []
        for part in parts:
            if not _is_text_part(part):
                if not (isinstance(part, dict) and set(part) <= _PART_NOTES):
                    into.continuable = False  # a function call, inline data...
                kept.append(part)
                continue
            said = into.said(part.get("text"), part.get("thought") is True)
            if said or not into.rewriting:
                kept.append({**part, "text": said} if into.rewriting else part)
        if into.rewriting and isinstance(content, dict):
            content["parts"] = kept


def _is_text_part(part: object) -> bool:
    """A part of text or thought (with or without its thoughtSignature)."""
    return (
        isinstance(part, dict)
        and isinstance(part.get("text"), str)
        and not set(part) - _PART_NOTES - {"text"}
    )


def add_usage(document: dict[str, Any], earlier: Usage) -> None:
    """Add the failed nodes' usage to the usage this chunk reports."""
    meta = document.get("usageMetadata")
    if not isinstance(meta, dict):
        return
    meta["promptTokenCount"] = reported_count(meta.get("promptTokenCount")) + earlier.prompt
    candidates = reported_count(meta.get("candidatesTokenCount")) + earlier.completion
    meta["candidatesTokenCount"] = candidates
    if earlier.reasoning or "thoughtsTokenCount" in meta:
        thoughts = reported_count(meta.get("thoughtsTokenCount")) + earlier.reasoning
        meta["thoughtsTokenCount"] = thoughts
    meta["totalTokenCount"] = reported_count(meta.get("totalTokenCount")) + earlier.total


def is_content_free(document: Any) -> bool:
    """A rewritten chunk left with nothing for the client (deltas a restart had sent)."""
    if not isinstance(document, dict) or "usageMetadata" in document:
        return False
    candidates = document.get("candidates")
    if not isinstance(candidates, list):
        return False
    return all(
        isinstance(c, dict) and c.get("finishReason") is None and not _parts(c) for c in candidates
    )


def _parts(candidate: dict[str, Any]) -> object:
    content = candidate.get("content")
    return content.get("parts") if isinstance(content, dict) else None


class GeminiAnswers:
    """router.dialects.codec.Answers for Gemini answers."""

    __slots__ = ()
    usage_mark = USAGE_MARK
    identity_fields: tuple[str, ...] = ("responseId", "modelVersion")
    passed_headers: frozenset[str] = frozenset()
    passed_prefixes: tuple[str, ...] = ()

    # The module's functions themselves: no extra call on the paths that run per event.
    usage = staticmethod(usage_from_gemini)
    has_content = staticmethod(has_content)
    output_chars = staticmethod(output_chars)
    has_finish_reason = staticmethod(has_finish_reason)
    transcribe = staticmethod(transcribe)
    add_usage = staticmethod(add_usage)
    is_content_free = staticmethod(is_content_free)

    def later_usage(self, earlier: Usage, report: Usage) -> Usage:
        return report  # every report is the whole usage so far

    def is_usage_only(self, event: bytes) -> bool:
        return False  # the router never asks a Gemini node for usage: it always comes

    def frame(self, document: Any) -> bytes:
        return b"data: " + orjson.dumps(document) + b"\r\n\r\n"  # as Google frames its own
