"""How many tokens a request may use, estimated from its body before any node saw it.

Pure and cheap: the prompt is taken as one token per 4 bytes of body (JSON punctuation
included, so it errs high), and the output cap is the one the client set, when it set one
(each dialect reads its own field: the parsed request's `output_cap`). Token-per-minute
limits count their sum while a request is in flight; credit reservations price the two
parts apart (router.billing.pricing.reservation). Its real usage replaces both when it is
settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BYTES_PER_TOKEN = 4
CHARS_PER_TOKEN = 4  # output produced or delivered, in characters of Latin-script text


def text_size(text: str) -> int:
    """`text`'s length in characters of Latin-script text, what `output_tokens` divides.

    Tokenizers spend about a token on 4 Latin letters but about one on each Chinese,
    Japanese or Korean character: counting those as 1 would charge a stopped CJK answer a
    quarter of its output. Its UTF-8 bytes plus half the bytes beyond the first of each
    character come to 1 for ASCII, 4 for a CJK character (3 bytes), 2.5 for Cyrillic or
    Greek (2 bytes), without a loop over the characters."""
    if text.isascii():  # most text, and free: CPython keeps the flag
        return len(text)
    size = len(text.encode("utf-8", "surrogatepass"))
    return size + (size - len(text)) // 2


def output_tokens(chars: int) -> int:
    """The estimate of output tokens in `chars` (a `text_size`): 4 a token, rounded up.

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


def positive_cap(value: object) -> int | None:
    """An output cap as a client wrote it: a positive integer, else None (no cap)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def estimate_tokens(raw: bytes, output_cap: int | None = None) -> TokenEstimate:
    """The prompt estimate (body bytes / 4, rounded up) and the request's output cap."""
    return TokenEstimate(-(-len(raw) // BYTES_PER_TOKEN), output_cap)


def token_estimate(raw: bytes, output_cap: int | None = None) -> int:
    """Prompt estimate plus the request's output cap (0 when it has none)."""
    return estimate_tokens(raw, output_cap).total


def lower_caps(fields: dict[str, Any], names: tuple[str, ...], produced: int) -> None:
    """Lower each output cap among `fields` by the `produced` tokens (to at least 1): a
    continued answer stays within the cap the client set, and its reservation."""
    for name in names:
        cap = fields.get(name)
        if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
            fields[name] = max(1, cap - produced)
