"""How many tokens a request may use, estimated from its body before any node saw it.

Pure and cheap: the prompt is taken as one token per 4 bytes of body (JSON punctuation
included, so it errs high), and the output cap is the one the client set, when it set one
(OpenAI `max_completion_tokens` / `max_tokens` / `max_output_tokens`, Gemini
`generationConfig.maxOutputTokens`). Token-per-minute limits count their sum while a
request is in flight; credit reservations price the two parts apart
(router.billing.pricing.reservation). Its real usage replaces both when it is settled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_OPENAI_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
BYTES_PER_TOKEN = 4
CHARS_PER_TOKEN = 4  # output produced or delivered, counted in characters of its text


def output_tokens(chars: int) -> int:
    """The estimate of output tokens in `chars` characters of text: 4 a token, rounded up.

    The one estimator of what a node produced when it did not say: a node cut before its
    usage (router.dialects.continuation) and what a client received before it left
    (router.dialects.delivered)."""
    return -(-chars // CHARS_PER_TOKEN) if chars > 0 else 0


@dataclass(frozen=True, slots=True)
class TokenEstimate:
    """A request's prompt estimate and the output cap it set (None: it set none)."""

    prompt: int = 0
    output_cap: int | None = None

    @property
    def total(self) -> int:
        """What tpm counts in flight: the prompt plus the cap (nothing for no cap)."""
        return self.prompt + (self.output_cap or 0)


NO_ESTIMATE = TokenEstimate()  # nothing known about the request


def _cap(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def estimate_tokens(raw: bytes, document: Mapping[str, Any] | None) -> TokenEstimate:
    """The prompt estimate (body bytes / 4, rounded up) and the request's output cap."""
    prompt = -(-len(raw) // BYTES_PER_TOKEN)
    if document is None:
        return TokenEstimate(prompt)
    for name in _OPENAI_CAPS:
        if name in document:
            return TokenEstimate(prompt, _cap(document[name]))
    config = document.get("generationConfig")
    if isinstance(config, Mapping):
        return TokenEstimate(prompt, _cap(config.get("maxOutputTokens")))
    return TokenEstimate(prompt)


def token_estimate(raw: bytes, document: Mapping[str, Any] | None) -> int:
    """Prompt estimate plus the request's output cap (0 when it has none)."""
    return estimate_tokens(raw, document).total
