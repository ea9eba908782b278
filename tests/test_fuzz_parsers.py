"""Property tests (hypothesis) for every parser of outside input: each either succeeds or
raises the error it documents, never anything else (which would be a 500 or a crash).

Pure logic, no event loop; bounded by `max_examples` so the suite stays fast.
"""

from __future__ import annotations

import itertools
import json
from urllib.parse import quote, unquote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from router.config.loader import parse_config
from router.dialects.anthropic import CODEC as ANTHROPIC_CODEC
from router.dialects.anthropic.request import COUNT_TOKENS_CALL, MESSAGES_CALL
from router.dialects.gemini import CODEC as GEMINI_CODEC
from router.dialects.gemini.credentials import split_key
from router.dialects.gemini.request import parse_gemini
from router.dialects.openai import CODEC as OPENAI_CODEC
from router.dialects.openai.request import OPENAI_ENDPOINTS, parse_openai
from router.dialects.registry import extract_key
from router.dialects.usage_tap import UsageFilter, UsageTap
from router.errors import AuthRejected, ConfigError, InvalidRequest, NotFound, RouterError
from router.web.forwarded import client_address, parse_networks
from router.web.screening import screen_headers

OPENAI_ANSWERS, GEMINI_ANSWERS = OPENAI_CODEC.answers, GEMINI_CODEC.answers
ANTHROPIC_ANSWERS = ANTHROPIC_CODEC.answers

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
header_text = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=0x10FFFF), max_size=40
) | st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))


# --- routes.yaml ---------------------------------------------------------------------------

YAML_PIECES = st.sampled_from(
    [
        "version: 1\n",
        "nodes:\n",
        "  a: {url: 'http://127.0.0.1:9'}\n",
        "  a: {url: 12}\n",
        "models:\n",
        "  m: {backends: [{node: a}]}\n",
        "  m: {backends: [{node: b, weight: -1}]}\n",
        "server: {port: 99999, public_models: maybe}\n",
        "keys:\n  - {name: k, key: '${UNSET_VAR_X}'}\n",
        "defaults: {health: {path: nope}}\n",
        "&a [*a]\n",
        "\t: :\n",
        "'\n",
        "- - -\n",
    ]
)


@FAST
@given(st.lists(YAML_PIECES, max_size=8).map("".join) | st.text(max_size=200))
def test_routes_yaml_is_a_config_or_located_problems(text: str) -> None:
    try:
        parse_config(text, environ={})
    except ConfigError as exc:
        assert exc.problems
        assert all(str(p) for p in exc.problems)


# --- request bodies ------------------------------------------------------------------------


@FAST
@given(
    st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(OPENAI_ENDPOINTS),
)
def test_openai_bodies_parse_or_are_invalid_requests(body: bytes, endpoint) -> None:
    try:
        parsed = parse_openai(body, endpoint)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.message
    else:
        assert isinstance(parsed.model, str) and parsed.model


@FAST
@given(
    st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([MESSAGES_CALL, COUNT_TOKENS_CALL]),
    st.sampled_from(["", "beta=true", "beta=false&x=1", "%zz"]),
)
def test_anthropic_bodies_parse_or_are_invalid_requests(body: bytes, call, query: str) -> None:
    try:
        parsed = call.read(body, query)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.message
    else:
        assert isinstance(parsed.model, str) and parsed.model
        assert parsed.output_cap is None or parsed.output_cap > 0


@FAST
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5), json_values)
def test_openai_model_of_any_type(document: dict, model: object) -> None:
    document = {**document, "model": model, "messages": [{"role": "user", "content": "x"}]}
    try:
        body = json.dumps(document, allow_nan=False).encode()
    except ValueError:  # NaN or infinity: not JSON at all, the other test's ground
        return
    try:
        parse_openai(body)
    except InvalidRequest:
        assert not (isinstance(model, str) and model)


@FAST
@given(st.sampled_from(["v1beta", "v1", "v1alpha"]), st.text(max_size=60))
def test_gemini_paths_parse_or_are_not_found(version: str, model_action: str) -> None:
    try:
        call = parse_gemini(version, model_action)
    except NotFound as exc:
        assert exc.status == 404
    except InvalidRequest as exc:
        assert exc.status == 400
        assert set("/\\%") & set(model_action.rpartition(":")[0])
    else:
        assert call.model and call.path().startswith(f"/{version}/models/")
        # the model is one path segment: the node is asked for exactly the model routed
        assert call.path().count("/") == 3 and "\\" not in call.path()


# --- credentials ---------------------------------------------------------------------------

query_part = st.text(alphabet="kKeEyY%0123456789abcdefABCDEF=+&;[]x\x00 ", max_size=30)


@FAST
@given(st.lists(query_part | st.sampled_from(["%6Bey=s", "k%65y=s", "KEY=s", "alt=sse"])))
def test_no_spelling_of_key_survives_in_the_forwarded_query(parts: list[str]) -> None:
    _, rest = split_key("&".join(parts))
    for part in rest.split("&"):
        for piece in part.split(";"):
            name = piece.partition("=")[0]
            for _ in range(4):
                name = unquote_plus(name)
            assert name.partition("\x00")[0].strip().casefold().removesuffix("[]") != "key"


@FAST
@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and "\x00" not in s))
def test_a_query_key_is_the_key_it_encodes(key: str) -> None:
    query = f"alt=sse&key={quote(key, safe='')}"
    assert extract_key(CIMultiDict(), query, "/v1beta/models/m:generateContent") == key


@FAST
@given(header_text, header_text, header_text, st.text(max_size=60))
def test_key_extraction_finds_one_key_or_refuses(
    auth: str, goog: str, anthropic: str, query: str
) -> None:
    headers = CIMultiDict({"Authorization": auth, "x-goog-api-key": goog, "x-api-key": anthropic})
    try:
        key = extract_key(headers, query, "/v1beta/models/m:generateContent")
    except AuthRejected as exc:
        assert exc.status == 401
    else:
        assert key is None or isinstance(key, str)


# --- headers -------------------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(st.sampled_from(["X-A", "Content-Encoding", "B"]), header_text)))
def test_header_screening_raises_only_client_errors(pairs: list[tuple[str, str]]) -> None:
    headers = CIMultiDictProxy(CIMultiDict(pairs))
    try:
        screen_headers(headers)
    except RouterError as exc:
        assert 400 <= exc.status < 500
    else:
        for _, value in pairs:
            value.encode("utf-8")  # what passes can be sent on


@FAST
@given(
    st.one_of(st.none(), st.text(max_size=40)),
    st.one_of(st.none(), st.text(alphabet="0123456789.:abcdef, ", max_size=60)),
    st.lists(st.sampled_from(["10.0.0.0/8", "127.0.0.1/32", "::1/128"]), max_size=2),
)
def test_forwarded_for_never_raises(peer, forwarded, cidrs) -> None:
    address = client_address(peer, forwarded, parse_networks(cidrs))
    assert address is None or isinstance(address, str)


# --- the usage tap over arbitrary chunk splits ---------------------------------------------

OPENAI_STREAM = (
    b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
    b"data: [DONE]\n\n"
)
GEMINI_STREAM = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}\r\n\r\n'
    b'data: {"candidates":[],"usageMetadata":{"promptTokenCount":3,'
    b'"candidatesTokenCount":5}}\r\n\r\n'
)

# Anthropic reports a stream's usage in two parts: the input first, the output last.
ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":5}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@FAST
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
@pytest.mark.parametrize(
    ("stream", "answers"),
    [
        (OPENAI_STREAM, OPENAI_ANSWERS),
        (GEMINI_STREAM, GEMINI_ANSWERS),
        (ANTHROPIC_STREAM, ANTHROPIC_ANSWERS),
    ],
    ids=["openai", "gemini", "anthropic"],
)
def test_the_usage_tap_reads_the_same_usage_however_the_stream_is_cut(
    stream: bytes, answers, cuts: list[int]
) -> None:
    tap = UsageTap(answers, is_stream=True)
    for chunk in _splits(stream, cuts):
        tap.feed(chunk)
    usage = tap.finish()
    assert usage is not None
    assert (usage.prompt, usage.completion) == (3, 5)


@FAST
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_the_usage_filter_drops_only_the_usage_event_however_cut(cuts: list[int]) -> None:
    usage_filter = UsageFilter(OPENAI_ANSWERS)
    out = b"".join(usage_filter.pass_through(c) for c in _splits(OPENAI_STREAM, cuts))
    out += usage_filter.flush()
    assert b"usage" not in out
    assert out.startswith(b'data: {"choices":[{"delta"') and out.endswith(b"data: [DONE]\n\n")


@FAST
@given(
    st.lists(st.binary(max_size=64), max_size=8),
    st.sampled_from([OPENAI_ANSWERS, GEMINI_ANSWERS, ANTHROPIC_ANSWERS]),
)
def test_the_usage_tap_survives_garbage(chunks: list[bytes], answers) -> None:
    tap = UsageTap(answers, is_stream=True)
    for chunk in chunks:
        tap.feed(chunk)
    tap.finish()
