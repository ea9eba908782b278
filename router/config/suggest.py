"""Near-miss suggestions for a misspelt key or value: "did you mean max_inflight?".

Pure. A suggestion is offered only when one known word is clearly close (difflib's
ratio, the same measure Python's own "Did you mean" uses in spirit): a word far from
every choice gets no guess rather than a misleading one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.7  # `max_inflght` ~ `max_inflight` (0.96), `modles` ~ `models` (0.83)


def closest(word: str, choices: Iterable[str]) -> tuple[str, ...]:
    """The known words `word` most likely misspells (several when they are as close), or ()."""
    if not isinstance(word, str) or not word:
        return ()
    candidates = [c for c in dict.fromkeys(choices) if isinstance(c, str) and c and c != word]
    folded = word.lower().replace("-", "_")
    same = [c for c in candidates if c.lower().replace("-", "_") == folded]
    if same:  # `Max-Inflight`: only the case or the dashes differ
        return tuple(same[:1])
    scored = []
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, word, candidate).ratio()
        if ratio >= CUTOFF:
            scored.append((round(ratio, 6), candidate))
    if not scored:
        return ()
    best = max(score for score, _ in scored)
    return tuple(sorted(c for score, c in scored if score == best)[:3])


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` to append to a message, or "" when nothing is close."""
    found = closest(word, choices)
    if not found:
        return ""
    return f" (did you mean {' or '.join(found)}?)"
