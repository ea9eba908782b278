"""Near-miss suggestions for a misspelt key or value: "did you mean max_inflight?".

Pure. A suggestion is offered only when one known word is clearly close: one edit away
(two letters swapped, one added, dropped or changed: `ulr` ~ `url`, which difflib's ratio
scores too low in a short word), or else close by difflib's ratio. A word far from every
choice gets no guess rather than a misleading one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.7  # `max_inflght` ~ `max_inflight` (0.96), `modles` ~ `models` (0.83)
SHORTEST = 3  # a word of fewer letters is one edit away from too much to guess from


def closest(word: str, choices: Iterable[str]) -> tuple[str, ...]:
    """The known words `word` most likely misspells (several when they are as close), or ()."""
    if not isinstance(word, str) or not word:
        return ()
    candidates = [c for c in dict.fromkeys(choices) if isinstance(c, str) and c and c != word]
    folded = word.lower().replace("-", "_")
    same = [c for c in candidates if c.lower().replace("-", "_") == folded]
    if same:  # `Max-Inflight`: only the case or the dashes differ
        return tuple(same[:1])
    if len(word) >= SHORTEST:
        near = sorted(c for c in candidates if _one_edit_apart(word, c))
        if near:
            return tuple(near[:3])
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


def _one_edit_apart(word: str, other: str) -> bool:
    """Whether one swap of neighbours, or one letter added, dropped or changed, turns
    `word` into `other` (a Damerau distance of 1)."""
    if abs(len(word) - len(other)) > 1 or word == other:
        return False
    if len(word) == len(other):
        diff = [i for i, (a, b) in enumerate(zip(word, other, strict=True)) if a != b]
        if len(diff) == 1:
            return True
        first, second = diff[0], diff[-1]
        return (
            len(diff) == 2
            and second == first + 1
            and (word[first], word[second]) == (other[second], other[first])
        )
    short, long = sorted((word, other), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
