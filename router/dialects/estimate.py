"""How many tokens a request may use, estimated from its body before any node saw it.

Pure and cheap: the prompt is taken as one token per 4 bytes of body (JSON punctuation
included, so it errs high), plus the output cap the client set, when it set one
(OpenAI `max_completion_tokens` / `max_tokens` / `max_output_tokens`, Gemini
`generationConfig.maxOutputTokens`). Token-per-minute limits count this while a request
is in flight; its real usage replaces it when it is settled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_OPENAI_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
BYTES_PER_TOKEN = 4


def _cap(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def token_estimate(raw: bytes, document: Mapping[str, Any] | None) -> int:
    """Prompt estimate plus the request's output cap (0 when it has none)."""
    prompt = -(-len(raw) // BYTES_PER_TOKEN)
    if document is None:
        return prompt
    for name in _OPENAI_CAPS:
        if name in document:
            return prompt + _cap(document[name])
    config = document.get("generationConfig")
    if isinstance(config, Mapping):
        return prompt + _cap(config.get("maxOutputTokens"))
    return prompt
