"""The Gemini client's key: `x-goog-api-key`, or `?key=` on a Gemini path.

Every spelling of the query parameter that some server would decode to `key` counts
(`%6Bey`, `KEY`, `k%2565y`, `key[]`...): its values are the client's credentials and
must never reach a node, so they are both read and removed here.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

GOOGLE_KEY_HEADER = "x-goog-api-key"
_DECODE_ROUNDS = 4  # `%25256Bey` is `key` after three decodings; a fourth proves it stable


def _param_name(piece: str) -> str:
    """What a lenient server could make of a query parameter's name: decoded until stable
    (double encoding), cut at a NUL, stripped, case-folded and without a `[]` suffix."""
    name = piece.partition("=")[0]
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    name = name.partition("\x00")[0].strip().casefold()
    return name[:-2] if name.endswith("[]") else name


def is_key_param(part: str) -> bool:
    """Whether a query part (between `&`) is, to some server, the `key` credential.

    `;` is a separator to some servers too, so a part with any `;`-piece named `key` counts.
    """
    return any(_param_name(piece) == "key" for piece in part.split(";"))


def split_key(raw_query: str) -> tuple[tuple[str, ...], str]:
    """The `key` values a raw query carries (decoded, non-empty) and the query without them."""
    if not raw_query:
        return (), raw_query
    keys: list[str] = []
    kept: list[str] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        if not is_key_param(part):
            kept.append(part)
            continue
        name, _, value = part.partition("=")
        decoded = unquote_plus(value).strip()
        if decoded and _param_name(name) == "key":
            keys.append(decoded)
    return tuple(keys), "&".join(kept)


def without_key(raw_query: str) -> str:
    """The raw query string minus every spelling of `key` (the client's credential)."""
    return split_key(raw_query)[1]
