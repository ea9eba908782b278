"""Continuing a streamed answer on another node after its node failed mid-answer.

A model with `on_midstream_failure: continue` has its SSE answers relayed event by event
(router.proxy.continuing). This module is the pure part:

* `EventSplitter` cuts chunks into whole SSE events; the unfinished tail waits, so a node
  failing mid-event never leaves half an event at the client.
* `Transcript` reads every event: the text and reasoning said so far (kept apart), the
  stream's identity (OpenAI `id`/`created`/`model`, Gemini `responseId`/`modelVersion`),
  each node's usage, and whether the answer can be continued at all (one choice, text
  only: a tool call or a second choice cannot be handed to another node).
* The continuation request (the answer so far as a prefilled last turn) is built by
  router.dialects.prefill.
* `Transcript.rewrite` makes the continuation's events part of the first stream: its role
  chunk goes, its identity becomes the first stream's, a restarted answer (a model with
  `prefill: false`) has the characters already sent cut from its deltas, and its usage
  becomes the sum of every node's, so the client sees one stream and one usage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.dialects.estimate import output_tokens
from router.dialects.sse_cut import EventCutter
from router.dialects.usage import Usage, UsagePart, usage_from_gemini, usage_from_openai
from router.dialects.usage_tap import is_error_event

# A blank line: two line ends in a row, each CRLF, LF or CR (SSE allows all three, mixed).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n){2}")
MAX_HELD = 1024 * 1024  # an unfinished event longer than this is passed on as it is
DONE = b"[DONE]"
_MAX_COUNT = 2**53
_OPENAI_IDENTITY = ("id", "created", "model", "system_fingerprint")
_GEMINI_IDENTITY = ("responseId", "modelVersion")
_REASONING_KEYS = ("reasoning_content", "reasoning")  # DeepSeek/vLLM, and OpenRouter's
_GEMINI_PART_NOTES = frozenset({"thought", "thoughtSignature"})  # beside a part's text


class EventSplitter:
    """Whole SSE events (each with its blank line) out of arbitrary chunks; the cutting is
    router.dialects.sse_cut's (bounded, linear)."""

    __slots__ = ("_cutter",)

    def __init__(self) -> None:
        self._cutter = EventCutter(MAX_HELD)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events `chunk` completes; an unfinished one over MAX_HELD comes out as is."""
        events: list[bytes] = []
        passed: list[bytes] = []  # pieces of an overlong event, passed on as one
        for data, whole in self._cutter.feed(chunk):
            if whole:
                if passed:
                    events.append(b"".join(passed))
                    passed = []
                events.append(data)
            else:
                passed.append(data)
        if passed:
            events.append(b"".join(passed))
        return events

    def finish(self) -> list[bytes]:
        """At the end of the stream: the event held for a CR that ended it, if any."""
        if _EVENT_END.search(self._cutter.pending) is None:
            return []
        return [self._cutter.rest()]

    @property
    def pending(self) -> bytes:
        """The unfinished event held back (dropped when its node fails)."""
        return self._cutter.pending


def event_document(event: bytes) -> Any:
    """The JSON of an event's `data:` lines; DONE for `[DONE]`; None for a comment, a
    keep-alive or anything that is not JSON."""
    lines = [line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    if not lines:
        return None
    payload = b"\n".join(lines)
    if payload.strip() == DONE:
        return DONE
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


@dataclass(slots=True)
class Transcript:
    """What the client has been sent of one answer, across every node that served it."""

    gemini: bool
    prompt_estimate: int = 0  # tokens, for a node that failed before reporting usage
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    continuable: bool = True
    finished: bool = False  # a finish reason was sent
    ended: bool = False  # the current node failed (its share is in `parts`)
    usage: Usage | None = None  # the current node's last reported usage
    parts: list[UsagePart] = field(default_factory=list)  # the nodes that failed
    # While a restarted answer (prefill: false) catches up: characters still to cut.
    skip_content: int = 0
    skip_reasoning: int = 0
    rewriting: bool = False  # a continuation's events are being made the first stream's
    # Characters of content and reasoning the current node produced (for an estimate).
    produced: list[int] = field(default_factory=lambda: [0, 0])

    @property
    def content_text(self) -> str:
        return "".join(self.content)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    def earlier(self) -> Usage:
        """The sum of the failed nodes' usage."""
        return Usage(
            sum(p.prompt for p in self.parts),
            sum(p.completion for p in self.parts),
            sum(p.reasoning for p in self.parts),
        )

    def node_failed(self, node: str) -> None:
        """The current node failed; its share of the usage is kept (see `_share`)."""
        self.parts.append(self._share(node, cut=True))
        self.usage = None
        self.produced = [0, 0]
        self.ended = True

    def _share(self, node: str, *, cut: bool = False) -> UsagePart:
        """The current node's usage: its last report, or else an estimate from the prompt
        and the characters it produced, 4 per token (rounded up). A node `cut` before it
        finished may have reported only part of its output (or no count of it): each
        output count is then at least the estimate of what the client received."""
        content, reasoning = self.produced
        completion, thought = output_tokens(content), output_tokens(reasoning)
        usage = self.usage
        if usage is None:
            return UsagePart(node, self.prompt_estimate, completion, thought, True)
        if not cut or (usage.completion >= completion and usage.reasoning >= thought):
            return UsagePart(node, usage.prompt, usage.completion, usage.reasoning, False)
        prompt = usage.prompt or self.prompt_estimate
        completion, thought = max(usage.completion, completion), max(usage.reasoning, thought)
        return UsagePart(node, prompt, completion, thought, True)

    def continue_on(self, *, restart: bool) -> None:
        """The next node's events follow; a restart repeats the answer from its start."""
        self.rewriting = True
        self.ended = False
        self.skip_content = len(self.content_text) if restart else 0
        self.skip_reasoning = len(self.reasoning_text) if restart else 0

    def total(self, node: str) -> Usage | None:
        """The answer's usage (`node` served it last): every node's share summed, one part
        each, when more than one served it; None when nothing is known."""
        if not self.parts:
            return self.usage
        parts = self.parts if self.ended else [*self.parts, self._share(node)]
        return Usage(
            sum(p.prompt for p in parts),
            sum(p.completion for p in parts),
            sum(p.reasoning for p in parts),
            parts=tuple(parts),
        )

    def read(self, document: Any) -> bool:
        """Take in one event of the current node (rewriting it when it continues another's);
        False when it is an in-band error, which the client must not get."""
        if not isinstance(document, dict):
            return True
        if is_error_event(document):
            return False
        if self.rewriting:
            for name, value in self.identity.items():
                if name in document:
                    document[name] = value
        else:  # the first real value of each (Azure opens with an empty placeholder)
            for name in _GEMINI_IDENTITY if self.gemini else _OPENAI_IDENTITY:
                value = document.get(name)
                if value and name not in self.identity:
                    self.identity[name] = value
        usage = usage_from_gemini(document) if self.gemini else usage_from_openai(document)
        if usage is not None:
            self.usage = usage
            if self.rewriting and self.parts:
                _add_usage(document, self.earlier(), self.gemini)
        if self.gemini:
            self._read_gemini(document)
        else:
            self._read_openai(document)
        return True

    def _said(self, text: object, reasoning: bool) -> str:
        """`text` minus what a restarted answer already sent; recorded as said."""
        if not isinstance(text, str) or not text:
            return ""
        self.produced[1 if reasoning else 0] += len(text)
        skip = self.skip_reasoning if reasoning else self.skip_content
        if skip:
            cut = min(skip, len(text))
            text = text[cut:]
            if reasoning:
                self.skip_reasoning -= cut
            else:
                self.skip_content -= cut
        (self.reasoning if reasoning else self.content).append(text)
        return text

    def _read_openai(self, document: dict[str, Any]) -> None:
        choices = document.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if choice.get("index", 0) != 0:
                self.continuable = False
            if choice.get("finish_reason") is not None:
                self.finished = True
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if delta.get("tool_calls") or delta.get("function_call"):  # LiteLLM sends nulls
                self.continuable = False
            if self.rewriting:
                delta.pop("role", None)
            if "content" in delta:
                said = self._said(delta["content"], False)
                if self.rewriting:
                    _keep_text(delta, "content", said)
            keys = [key for key in _REASONING_KEYS if key in delta]
            if keys:  # a node sending both spellings sends the same text twice: read once
                said = self._said(delta[keys[0]], True)
                if self.rewriting:
                    for key in keys:
                        _keep_text(delta, key, said)

    def _read_gemini(self, document: dict[str, Any]) -> None:
        candidates = document.get("candidates")
        if not isinstance(candidates, list):
            return
        for candidate in candidates:
            if not isinstance(candidate, dict):
                continue
            if candidate.get("index", 0) != 0:
                self.continuable = False
            if candidate.get("finishReason") is not None:
                self.finished = True
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list):
                continue
            kept = []
            for part in parts:
                if not _is_text_part(part):
                    if not (isinstance(part, dict) and set(part) <= _GEMINI_PART_NOTES):
                        self.continuable = False  # a function call, inline data...
                    kept.append(part)
                    continue
                said = self._said(part.get("text"), part.get("thought") is True)
                if said or not self.rewriting:
                    kept.append({**part, "text": said} if self.rewriting else part)
            if self.rewriting and isinstance(content, dict):
                content["parts"] = kept


def _is_text_part(part: object) -> bool:
    """A Gemini part of text or thought (with or without its thoughtSignature)."""
    return (
        isinstance(part, dict)
        and isinstance(part.get("text"), str)
        and not set(part) - _GEMINI_PART_NOTES - {"text"}
    )


def _keep_text(delta: dict[str, Any], key: str, said: str) -> None:
    if said:
        delta[key] = said
    else:
        del delta[key]


def _add_usage(document: dict[str, Any], earlier: Usage, gemini: bool) -> None:
    """Add the failed nodes' usage to the usage this event reports (in its own dialect)."""
    if gemini:
        meta = document.get("usageMetadata")
        if not isinstance(meta, dict):
            return
        meta["promptTokenCount"] = _int(meta.get("promptTokenCount")) + earlier.prompt
        meta["candidatesTokenCount"] = _int(meta.get("candidatesTokenCount")) + earlier.completion
        if earlier.reasoning or "thoughtsTokenCount" in meta:
            meta["thoughtsTokenCount"] = _int(meta.get("thoughtsTokenCount")) + earlier.reasoning
        meta["totalTokenCount"] = _int(meta.get("totalTokenCount")) + earlier.total
        return
    usage = document.get("usage")
    if not isinstance(usage, dict):  # the usage was read from elsewhere in the event
        return
    usage["prompt_tokens"] = _int(usage.get("prompt_tokens")) + earlier.prompt
    completion = earlier.completion + earlier.reasoning  # OpenAI counts reasoning inside
    usage["completion_tokens"] = _int(usage.get("completion_tokens")) + completion
    usage["total_tokens"] = _int(usage.get("total_tokens")) + earlier.total
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict):
        details["reasoning_tokens"] = _int(details.get("reasoning_tokens")) + earlier.reasoning
    elif earlier.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": earlier.reasoning}


def _int(value: object) -> int:
    """A token count as a node reports it; 0 for anything else, or for a count no real
    answer reaches (orjson cannot write integers past 64 bits)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_COUNT:
        return value
    return 0


def is_content_free(document: Any, gemini: bool) -> bool:
    """A rewritten continuation event left with nothing to tell the client (its role
    chunk, or deltas a restart had already sent): it is dropped."""
    if not isinstance(document, dict):
        return False
    if gemini:
        if "usageMetadata" in document:
            return False
        candidates = document.get("candidates")
        if not isinstance(candidates, list):
            return False
        return all(
            isinstance(c, dict) and c.get("finishReason") is None and not _parts(c)
            for c in candidates
        )
    if isinstance(document.get("usage"), dict):
        return False
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(
        isinstance(c, dict) and c.get("finish_reason") is None and not c.get("delta")
        for c in choices
    )


def _parts(candidate: dict[str, Any]) -> object:
    content = candidate.get("content")
    return content.get("parts") if isinstance(content, dict) else None


def event_bytes(document: Any, gemini: bool) -> bytes:
    """A rewritten event, framed as each API frames its own."""
    return b"data: " + orjson.dumps(document) + (b"\r\n\r\n" if gemini else b"\n\n")
