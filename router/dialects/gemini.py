"""The Gemini-native dialect: `POST /{version}/models/{model}:{action}`, the model in the path.

The body is forwarded untouched; only the path changes when a backend renames the model,
and the client's `?key=` (a credential) never reaches a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from router.dialects.dialect import GEMINI, Dialect
from router.dialects.target import encode_target
from router.errors import InvalidRequest, NotFound, echo

GEMINI_ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
GEMINI_VERSIONS = ("v1beta", "v1", "v1alpha")
_GEMINI_ONLY_VERSIONS = frozenset({"v1beta", "v1alpha"})  # OpenAI has no such version
# `?key=` is a Gemini convention, so it is honoured only on Gemini-shaped paths (with or
# without a mount prefix such as /gemini): elsewhere it could leak into logs unnoticed.
_GEMINI_PATH = re.compile(r"(?:^|/)(?:v1beta|v1alpha|v1/models)(?:/|$)")


# Errors the router raises before an endpoint claimed the request (an unknown path, a
# wrong method) are rendered in Gemini's shape on the paths only Gemini clients call:
# any under a Gemini-only version (but Google's OpenAI-compatible `/v1beta/openai/`),
# and `.../models/{model}:{action}` under any version.
_GEMINI_ERROR_PATH = re.compile(
    r"(?:^|/)(?:v1beta|v1alpha)(?:/(?!openai(?:/|$))|$)|/models/[^/]+:[^/]*$"
)


def speaks_gemini(path: str) -> bool:
    """Whether errors on `path` are rendered for a Gemini client (before any endpoint ran)."""
    return _GEMINI_ERROR_PATH.search(path) is not None


def is_gemini_path(path: str) -> bool:
    """Whether `path` looks like a Gemini API path (where `?key=` is a credential)."""
    return _GEMINI_PATH.search(path) is not None


def gemini_roots(prefixes: tuple[str, ...]) -> list[str]:
    """Gemini paths live at the root and under every prefix that is not itself versioned.

    A prefix inside a Gemini-only version (`/v1beta/openai`, Google's OpenAI-compatible
    base URL) is an OpenAI prefix and no Gemini root: `/v1beta/openai/v1beta/...` means nothing.
    """
    roots = [""]
    for prefix in prefixes:
        if prefix.rsplit("/", 1)[-1] in GEMINI_VERSIONS or prefix in roots:
            continue
        if prefix.lstrip("/").split("/", 1)[0] in _GEMINI_ONLY_VERSIONS:
            continue
        roots.append(prefix)
    return roots


@dataclass(frozen=True, slots=True)
class GeminiCall:
    """`{version}/models/{model}:{action}` taken apart."""

    version: str
    model: str
    action: str

    def path(self, model: str | None = None) -> str:
        """The node-side path, optionally for a renamed model."""
        return f"/{self.version}/models/{model or self.model}:{self.action}"


_PATH_CHARACTERS = frozenset("/\\%")  # never in a model id; each could change the node's path


def parse_gemini(version: str, model_action: str) -> GeminiCall:
    """Split `gemini-2.5-flash:generateContent` and check the action."""
    model, sep, action = model_action.rpartition(":")
    if not sep or not model:
        raise NotFound(f"expected /{version}/models/{{model}}:{{action}}")
    if action not in GEMINI_ACTIONS:
        known = ", ".join(sorted(GEMINI_ACTIONS))
        raise NotFound(f"unknown Gemini action {echo(action)} (supported: {known})")
    if _PATH_CHARACTERS.intersection(model):
        # aiohttp hands over the decoded path: `a%2F..%2Fb` is `a/../b`, which a node (or a
        # normalising proxy before it) would serve as `b` while we routed and priced `a*`.
        raise InvalidRequest(
            "the model name in the path may not contain '/', '\\' or '%' (encoded or not)"
        )
    return GeminiCall(version, model, action)


def check_gemini_body(call: GeminiCall, raw: bytes) -> dict[str, Any] | None:
    """A non-empty body must be JSON (countTokens bodies go to the node unchecked); the
    parsed body when it is a JSON object."""
    if raw and call.action != "countTokens":
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
        return document if isinstance(document, dict) else None
    return None


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
    """The `key` values a raw query carries (decoded, non-empty) and the query without them.

    Every spelling that decodes to `key` counts (`%6Bey`, `KEY`, `k%2565y`, `key[]`...):
    the values are the client's credentials and must never reach a node.
    """
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


@dataclass(slots=True)
class GeminiNodeTarget:
    """POST {node}/{version}/models/{model}:{action}?{query} with the body untouched.

    `query` is the client's raw query string minus its `key` (already encoded for the wire).
    """

    raw: bytes
    call: GeminiCall
    query: str
    strip_usage: bool = False

    @property
    def dialect(self) -> Dialect:
        return GEMINI

    @property
    def continuable(self) -> bool:
        return self.call.action == "streamGenerateContent"

    def path(self, base_path: str, model: str | None) -> str:
        return encode_target(base_path + self.call.path(model), self.query)

    def body(self, model: str | None) -> bytes:
        return self.raw
