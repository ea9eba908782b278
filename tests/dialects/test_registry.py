"""router.dialects.registry: what is derived from the list of dialects, as tables."""

from __future__ import annotations

import itertools

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from router.dialects import registry
from router.dialects.codec import Codec, EntryKind
from router.dialects.estimate import NO_ESTIMATE
from router.dialects.names import DialectName
from router.dialects.request import ClientRequest
from router.errors import AuthRejected, NotFound

OPENAI, GEMINI = registry.codec(DialectName.OPENAI), registry.codec(DialectName.GEMINI)
ANTHROPIC = registry.codec(DialectName.ANTHROPIC)
GEMINI_PATH = "/v1beta/models/m:generateContent"


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_every_dialect_name_has_its_codec_and_the_default_is_the_first() -> None:
    assert list(registry.CODECS) == list(DialectName)
    assert registry.DEFAULT is registry.ALL[0] is OPENAI


def test_defaults_derived_from_every_dialect() -> None:
    # The prefixes servers.prefixes defaulted to before dialects declared their own.
    assert registry.DEFAULT_PREFIXES == ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini")
    assert {"authorization", "x-goog-api-key", "x-api-key"} == registry.CREDENTIAL_HEADERS
    assert "Authorization" in registry.CONFLICTING and "?key=" in registry.CONFLICTING
    assert "x-api-key" in registry.CONFLICTING
    assert "anthropic-ratelimit-" in registry.PASSED_PREFIXES


@pytest.mark.parametrize(
    ("pairs", "query", "path", "expected"),
    [
        ((("Authorization", "Bearer k1"),), "", "/v1/chat/completions", "k1"),
        ((("x-goog-api-key", "k1"),), "", "/v1/chat/completions", "k1"),  # any path
        ((), "key=k1", GEMINI_PATH, "k1"),
        ((), "key=k1", "/v1/chat/completions", None),  # ?key= is Gemini's alone
        ((("Authorization", "Bearer k1"), ("x-goog-api-key", "k1")), "key=k1", GEMINI_PATH, "k1"),
        ((), "", GEMINI_PATH, None),
        ((("x-api-key", "k1"),), "", "/v1/messages", "k1"),
        ((("x-api-key", " k1 "), ("Authorization", "Bearer k1")), "", "/v1/messages", "k1"),
        ((("x-api-key", ""),), "", "/v1/messages", None),
    ],
)
def test_a_key_in_any_dialects_form(pairs, query, path, expected) -> None:
    assert registry.extract_key(headers(*pairs), query, path) == expected


def test_keys_that_differ_are_refused_naming_every_form() -> None:
    with pytest.raises(AuthRejected) as refused:
        registry.extract_key(
            headers(("Authorization", "Bearer a"), ("x-goog-api-key", "b")), "", "/"
        )
    assert refused.value.status == 401 and refused.value.message == registry.CONFLICTING
    with pytest.raises(AuthRejected):  # Claude Code's two forms, when they disagree
        registry.extract_key(
            headers(("Authorization", "Bearer a"), ("x-api-key", "b")), "", "/v1/messages"
        )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (GEMINI_PATH, GEMINI),
        ("/v1beta", GEMINI),
        ("/v1/chat/completions", OPENAI),
        ("/x", OPENAI),
        ("/v1/messages", ANTHROPIC),
        ("/api/v1/messages/batches", ANTHROPIC),
        ("/v1/messagesx", OPENAI),
    ],
)
def test_the_dialect_of_a_path_no_route_claimed(path: str, expected: Codec) -> None:
    assert registry.codec_for_path(path) is expected


@pytest.mark.parametrize(
    ("pairs", "query", "expected"),
    [
        ((("x-goog-api-key", "k"),), {}, GEMINI),
        ((("x-goog-api-client", "genai-py"),), {}, GEMINI),
        ((), {"key": "k"}, GEMINI),
        ((("Authorization", "Bearer k"),), {}, OPENAI),
        ((), {}, OPENAI),
        ((("anthropic-version", "2023-06-01"), ("x-api-key", "k")), {}, ANTHROPIC),
        ((("anthropic-version", "2023-06-01"), ("Authorization", "Bearer k")), {}, ANTHROPIC),
        ((("x-api-key", "k"),), {}, OPENAI),  # the version says it, not the key's form
        ((("anthropic-version", "2023-06-01"), ("x-goog-api-key", "k")), {}, GEMINI),
    ],
)
def test_a_shared_route_goes_to_the_dialect_that_claims_the_request(pairs, query, expected) -> None:
    assert registry.claimant([OPENAI, GEMINI, ANTHROPIC], headers(*pairs), query) is expected


def test_routes_group_the_paths_several_dialects_declare() -> None:
    routes = registry.routes(("/v1", "/gemini"))
    shared = routes[("GET", "/v1/models")]
    assert [codec.name for codec, _ in shared] == list(DialectName)
    assert {entry.kind for _, entry in shared} == {EntryKind.MODEL_LIST}
    chat = routes[("POST", "/v1/chat/completions")]
    assert [(codec, entry.kind) for codec, entry in chat] == [(OPENAI, EntryKind.PROXY)]
    ((codec, entry),) = routes[
        ("POST", "/gemini/{version:v1beta|v1|v1alpha}/models/{model_action}")
    ]
    assert codec is GEMINI and entry.call is not None
    assert entry.call({"version": "v1beta", "model_action": "m:countTokens"}).is_free
    with pytest.raises(NotFound):
        entry.call({"version": "v1beta", "model_action": "m:predict"})
    ((codec, entry),) = routes[("POST", "/v1/messages/count_tokens")]
    assert codec is ANTHROPIC and entry.call is not None and entry.call({}).is_free
    ((codec, entry),) = routes[("POST", "/gemini/messages")]
    assert codec is ANTHROPIC and entry.call is not None and not entry.call({}).is_free


def test_a_nodes_key_goes_the_first_way_it_speaks() -> None:
    assert registry.key_codec(frozenset(DialectName)) is OPENAI
    assert registry.key_codec(frozenset({DialectName.GEMINI})) is GEMINI
    assert registry.key_codec(frozenset({DialectName.ANTHROPIC})) is ANTHROPIC
    assert ANTHROPIC.nodes.credential("k") == ("x-api-key", "k")


SPEAKS = [
    frozenset(combo)
    for size in range(1, len(DialectName) + 1)
    for combo in itertools.combinations(DialectName, size)
]


def _request(codec: Codec) -> ClientRequest:
    """A minimal request of `codec`'s dialect (its first proxied route, a tiny body)."""
    entry = next(e for e in codec.ingress.entries(("/v1",)) if e.kind is EntryKind.PROXY)
    assert entry.call is not None
    call = entry.call({"version": "v1beta", "model_action": "m:generateContent"})
    body = orjson.dumps(  # a chat request in any dialect's shape
        {
            "model": "m",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "x"}],
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        }
    )
    return ClientRequest(codec, None, headers(), call, call.read(body, ""), NO_ESTIMATE, True)


@pytest.mark.parametrize("codec", registry.ALL, ids=lambda c: c.name)
@pytest.mark.parametrize("speaks", SPEAKS, ids=lambda s: "+".join(sorted(s)))
def test_what_a_request_reaches_is_what_router_check_assumes(codec, speaks) -> None:
    """`router check` (registry.can_reach) and a request's plan (ClientRequest.reaches,
    target_for) agree on which nodes can take it: the step that wires translation must
    change both."""
    request = _request(codec)
    reaches = request.reaches(speaks)
    assert reaches is registry.can_reach(codec, speaks)
    target = request.target_for(speaks)
    assert (target is not None) is reaches
    assert target is not None and target.client is codec
    if codec.name in speaks:
        assert target.node is codec and target.is_relayed
    else:  # translated into the dialect the node's key goes by
        assert target.node is registry.key_codec(speaks) and not target.is_relayed
