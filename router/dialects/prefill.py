"""The request that continues an answer cut mid-stream on another node (see
router.dialects.continuation): the original messages plus an assistant (Gemini: model)
turn holding what was said, reasoning in its own field (OpenAI `reasoning_content`,
Gemini a `thought: true` part)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.dialect import Dialect
from router.dialects.target import Target

_OPENAI_CAPS = ("max_completion_tokens", "max_tokens")
CHARS_PER_TOKEN = 4  # the estimate of what was produced, as for usage


def prefilled_body(body: bytes, content: str, reasoning: str, gemini: bool) -> bytes:
    """`body` (the request as sent to a node) with the answer so far as its last turn, and
    its output cap lowered by the tokens already produced (about 4 characters a token),
    so the whole answer stays within the cap the client set (and its reservation)."""
    document = orjson.loads(body)
    produced = -(-(len(content) + len(reasoning)) // CHARS_PER_TOKEN)
    if gemini:
        config = document.get("generationConfig")
        if isinstance(config, dict):
            _lower(config, ("maxOutputTokens",), produced)
        parts: list[dict[str, Any]] = []
        if reasoning:
            parts.append({"text": reasoning, "thought": True})
        if content:
            parts.append({"text": content})
        contents = document.get("contents")
        turns = list(contents) if isinstance(contents, list) else []
        document["contents"] = [*turns, {"role": "model", "parts": parts}]
    else:
        turn: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning:
            turn["reasoning_content"] = reasoning
        document["messages"] = [*document["messages"], turn]
        _lower(document, _OPENAI_CAPS, produced)
    return orjson.dumps(document)


def _lower(fields: dict[str, Any], names: tuple[str, ...], produced: int) -> None:
    for name in names:
        cap = fields.get(name)
        if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
            fields[name] = max(1, cap - produced)


@dataclass(frozen=True, slots=True)
class ContinuedTarget:
    """The request that continues an answer: `base`'s, with the answer so far as its last
    turn (`prefill`), or `base`'s unchanged for a model that cannot take one."""

    base: Target
    content: str
    reasoning: str
    prefill: bool

    @property
    def dialect(self) -> Dialect:
        return self.base.dialect

    @property
    def strip_usage(self) -> bool:
        return self.base.strip_usage

    @property
    def continuable(self) -> bool:
        return self.base.continuable

    def path(self, base_path: str, model: str | None) -> str:
        return self.base.path(base_path, model)

    def body(self, model: str | None) -> bytes:
        body = self.base.body(model)
        if not self.prefill or not (self.content or self.reasoning):
            return body  # nothing said yet: the question as it was
        return prefilled_body(body, self.content, self.reasoning, self.dialect.gemini_usage)
