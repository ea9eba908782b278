"""Every dialect the router speaks, by name: the one list a new dialect joins.

Adding a dialect is its package (router/dialects/<name>/, building one `Codec`), its
name in `DialectName` (router.dialects.names) and its line in `CODECS`. Everything the
rest of the router needs across dialects is derived here from that list, once, at
import: the client's credentials in every dialect's forms (a key is a key whichever
form it comes in, and none of them ever reaches a node), the default mount prefixes,
which dialect an error on a path no route claimed is rendered in.

The first codec is the default: the router's own error shape (the admin API, requests
aiohttp could not parse) and the dialect of a shared path no other dialect claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from multidict import MultiMapping

from router.dialects import anthropic, gemini, openai
from router.dialects.codec import Codec, Entry
from router.dialects.names import DialectName
from router.errors import AuthRejected

CODECS: Mapping[DialectName, Codec] = MappingProxyType(
    {codec.name: codec for codec in (openai.CODEC, gemini.CODEC, anthropic.CODEC)}
)
DEFAULT: Codec = next(iter(CODECS.values()))
ALL: tuple[Codec, ...] = tuple(CODECS.values())
_CREDENTIALS = tuple(codec.ingress.credentials for codec in ALL)

# `server.prefixes`' default: every dialect's mount points, in registry order.
DEFAULT_PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(prefix for codec in ALL for prefix in codec.ingress.default_prefixes)
)
# Lower-case header names that carry a client's key in some dialect: never forwarded.
CREDENTIAL_HEADERS: frozenset[str] = frozenset().union(
    *(codec.ingress.credential_headers for codec in ALL)
)
# A node's answer headers some dialect lets through to its clients (lower case).
PASSED_HEADERS: frozenset[str] = frozenset().union(*(codec.answers.passed_headers for codec in ALL))
# ... and the families of them some dialect lets through, by prefix (lower case).
PASSED_PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(prefix for codec in ALL for prefix in codec.answers.passed_prefixes)
)
# Body fields that hold a conversation in some dialect (never logged).
CONVERSATION_FIELDS: frozenset[str] = frozenset(
    field for codec in ALL for field in codec.ingress.conversation_fields
)
CONFLICTING = "the request carries different API keys ({})".format(
    ", ".join(form for codec in ALL for form in codec.ingress.credential_forms)
)


def codec(name: DialectName) -> Codec:
    """The codec of a dialect."""
    return CODECS[name]


def key_codec(speaks: frozenset[DialectName]) -> Codec:
    """The dialect whose way a node that speaks `speaks` is sent its api_key: the first
    of them in registry order (a node that speaks OpenAI and Gemini gets a Bearer token)."""
    for each in ALL:
        if each.name in speaks:
            return each
    return DEFAULT


def translation_codec(speaks: frozenset[DialectName]) -> Codec | None:
    """The dialect a request of another is translated into for a node that speaks
    `speaks`: the first of them, in registry order, that has a translation (the one its
    key goes by, `key_codec`, when that one has)."""
    for each in ALL:
        if each.name in speaks and each.translation is not None:
            return each
    return None


def can_reach(client: Codec, speaks: frozenset[DialectName]) -> bool:
    """Whether a client of `client`'s dialect can be served by a node that speaks
    `speaks`: natively, or by translation when both ends have one (`Codec.translation`;
    ClientRequest.reaches answers the same for a request of a translated kind)."""
    if client.name in speaks:
        return True
    return client.translation is not None and translation_codec(speaks) is not None


def presented_keys(headers: MultiMapping[str], raw_query: str, path: str) -> set[str]:
    """Every key the request presents, in any dialect's forms."""
    found: set[str] = set()
    for each in _CREDENTIALS:
        found.update(each(headers, raw_query, path))
    return found


def extract_key(headers: MultiMapping[str], raw_query: str, path: str) -> str | None:
    """The key a request presents, or None; AuthRejected (401) when it presents several
    that differ, rather than guessing which one the client meant.

    `headers` must be case-insensitive (aiohttp's `request.headers`); `raw_query` is the
    query string as received (`request.rel_url.raw_query_string`).
    """
    # Per request: no set; the first key found and any other compared with it.
    found: str | None = None
    for each in _CREDENTIALS:
        for key in each(headers, raw_query, path):
            if found is None:
                found = key
            elif key != found:
                raise AuthRejected("invalid_token", CONFLICTING)
    return found


def codec_for_path(path: str) -> Codec:
    """The dialect errors on `path` are rendered in, before any route claimed the request."""
    for each in ALL:
        if each.ingress.owns_path(path):
            return each
    return DEFAULT


def claimant(
    codecs: Sequence[Codec], headers: Mapping[str, str], query: Mapping[str, str]
) -> Codec:
    """Of the dialects sharing one route, the one the request belongs to: the first that
    claims it, else the first of them (in registry order)."""
    for each in codecs:
        if each.ingress.claims(headers, query):
            return each
    return codecs[0]


Claims = tuple[tuple[Codec, Entry], ...]


def routes(prefixes: tuple[str, ...]) -> dict[tuple[str, str], Claims]:
    """Every dialect's routes under `prefixes`, by (method, path), in registry order; a
    route several dialects declare (`GET /v1/models`) lists each of them."""
    found: dict[tuple[str, str], Claims] = {}
    for each in ALL:
        for entry in each.ingress.entries(prefixes):
            key = (entry.method, entry.path)
            found[key] = (*found.get(key, ()), (each, entry))
    return found
