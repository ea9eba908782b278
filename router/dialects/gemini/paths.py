"""Where Gemini-native paths live: `/{version}/models/{model}:{action}` at the root and
under every `server.prefixes` entry that is not itself versioned.

Gemini's paths decide two things before any route runs: whether `?key=` is a credential
there (`is_gemini_path`), and whether an error on a path no route claimed is rendered in
Google's shape (`speaks_gemini`).
"""

from __future__ import annotations

import re

GENERATE = "generateContent"
STREAM = "streamGenerateContent"
COUNT_TOKENS = "countTokens"
EMBED = "embedContent"
BATCH_EMBED = "batchEmbedContents"
GEMINI_ACTIONS = frozenset({GENERATE, STREAM, COUNT_TOKENS, EMBED, BATCH_EMBED})
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
