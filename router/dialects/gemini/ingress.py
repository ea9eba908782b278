"""Where Gemini clients call the router, and the key they present.

`POST {root}/{version}/models/{model}:{action}` and `GET {root}/{version}/models[/{model}]`
for every root (router.dialects.gemini.paths) and version. `/v1/models` is also OpenAI's
list: a request there is Gemini's when it carries a Gemini credential (`x-goog-api-key`
or `?key=`) or Google's client header `x-goog-api-client` (both google-genai SDKs send
the two headers); the OpenAI SDKs send `Authorization: Bearer`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from multidict import MultiMapping

from router.dialects.codec import Entry, EntryKind
from router.dialects.gemini.credentials import GOOGLE_KEY_HEADER, split_key
from router.dialects.gemini.paths import (
    GEMINI_VERSIONS,
    gemini_roots,
    is_gemini_path,
    speaks_gemini,
)
from router.dialects.gemini.request import read_call

GOOGLE_CLIENT_HEADER = "x-goog-api-client"


def is_gemini_client(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether a request on a path both dialects share comes from a Gemini client."""
    return GOOGLE_KEY_HEADER in headers or GOOGLE_CLIENT_HEADER in headers or "key" in query


class GeminiIngress:
    """router.dialects.codec.Ingress for the Gemini-native API."""

    __slots__ = ()
    # Mount points of Gemini gateways (the root is always served as well).
    default_prefixes: tuple[str, ...] = ("/gemini/v1", "/v1/gemini", "/gemini")
    credential_headers: frozenset[str] = frozenset({GOOGLE_KEY_HEADER})
    credential_forms: tuple[str, ...] = (GOOGLE_KEY_HEADER, "?key=")
    conversation_fields: tuple[str, ...] = ("systemInstruction", "contents")

    def entries(self, prefixes: tuple[str, ...]) -> tuple[Entry, ...]:
        roots = gemini_roots(prefixes)
        found: list[Entry] = []
        for root in roots:
            for version in GEMINI_VERSIONS:
                found.append(Entry("GET", f"{root}/{version}/models", EntryKind.MODEL_LIST))
                found.append(
                    Entry("GET", f"{root}/{version}/models/{{model:.+}}", EntryKind.MODEL_GET)
                )
        versions = "|".join(GEMINI_VERSIONS)
        for root in roots:
            path = f"{root}/{{version:{versions}}}/models/{{model_action}}"
            found.append(Entry("POST", path, EntryKind.PROXY, read_call))
        return tuple(found)

    def claims(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return is_gemini_client(headers, query)

    def owns_path(self, path: str) -> bool:
        return speaks_gemini(path)

    def credentials(self, headers: MultiMapping[str], raw_query: str, path: str) -> Iterator[str]:
        for value in headers.getall(GOOGLE_KEY_HEADER, ()):
            key = value.strip()
            if key:
                yield key
        if raw_query and is_gemini_path(path):
            yield from split_key(raw_query)[0]
