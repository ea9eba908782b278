"""The pure parts of the model endpoints and the other OpenAI endpoints (tables, no loop).

The model catalog and the Gemini-client rule, the model paths and the dialect each
answers in, the OpenAI endpoint table (validation, injected usage, node targets), the
`limits:` config keys, and the mock node's embeddings / completions / responses answers
(read back through the usage tap as the router reads them).
"""

from __future__ import annotations

import base64
import struct
import textwrap

import orjson
import pytest

from router.config.loader import parse_config
from router.config.model import Backend, Config, Defaults, ModelRoute, ServerConfig, TokenLimits
from router.dialects import registry
from router.dialects.codec import ModelInfo
from router.dialects.gemini import CODEC as GEMINI_CODEC
from router.dialects.gemini.ingress import is_gemini_client
from router.dialects.names import DialectName
from router.dialects.openai import CODEC as OPENAI_CODEC
from router.dialects.openai.request import (
    CHAT,
    OPENAI_ENDPOINTS,
    OpenAIRequest,
    OpenAITarget,
    parse_openai,
    wants_injected_usage,
)
from router.dialects.usage import Usage
from router.dialects.usage_tap import UsageTap
from router.errors import ConfigError, InvalidRequest
from router.mock.answers import Answer, MockSettings
from router.mock.openai_apis import (
    completion,
    completion_stream,
    embeddings,
    response,
    response_stream,
)
from router.web.models import model_info


class Speaks:
    """Which dialects a model path answers in (a shared one decides per request)."""

    GEMINI = frozenset({DialectName.GEMINI})
    # OpenAI's and Anthropic's are mounted under every prefix alike.
    PREFIXED = frozenset({DialectName.OPENAI, DialectName.ANTHROPIC})
    EVERY = PREFIXED | GEMINI


def _model_paths(prefixes: tuple[str, ...]) -> dict[str, frozenset[DialectName]]:
    routes = registry.routes(prefixes)
    return {
        path: frozenset(codec.name for codec, _ in claims)
        for (method, path), claims in routes.items()
        if method == "GET"
    }


class ModelCatalog:
    """Both dialects' model answers for one config, through their codecs' catalogs."""

    def __init__(self, config: Config, created: int) -> None:
        self.config = config
        listed = [model_info(name, route) for name, route in config.listed_routes()]
        self.openai = OPENAI_CODEC.models.catalog(listed, created)
        self.gemini = GEMINI_CODEC.models.catalog(listed, created)
        self.openai_list = self.openai.page({})

    @classmethod
    def of(cls, config: Config, created: int) -> ModelCatalog:
        return cls(config, created)

    def _resolve(self, name: str) -> ModelInfo | None:
        route = self.config.resolve(name)
        return None if route is None else model_info(route.name, route)

    def openai_get(self, name: str) -> bytes | None:
        return self.openai.get(name, self._resolve)

    def gemini_get(self, name: str) -> bytes | None:
        return self.gemini.get(name, self._resolve)

    def gemini_page(self, size: str | None, token: str | None) -> bytes:
        query = {k: v for k, v in (("pageSize", size), ("pageToken", token)) if v is not None}
        return self.gemini.page(query)


OPENAI_ANSWERS, GEMINI_ANSWERS = OPENAI_CODEC.answers, GEMINI_CODEC.answers

ENDPOINTS = {e.name: e for e in OPENAI_ENDPOINTS}
ANSWER = Answer.of(MockSettings(name="n1", chunks=5))


def _config() -> Config:
    backends = (Backend(node="n"),)
    limits = TokenLimits(input_tokens=1000, output_tokens=100)
    models = {
        "m1": ModelRoute("m1", backends, aliases=("m1-alias",), limits=limits),
        "m2": ModelRoute("m2", backends),
        "m3": ModelRoute("m3", backends),
        "glob-*": ModelRoute("glob-*", backends),
    }
    return Config.build(
        version=1, server=ServerConfig(), defaults=Defaults(), nodes={}, models=models
    )


CATALOG = ModelCatalog.of(_config(), created=1700000000)


# --- which dialect a shared path answers in ----------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "gemini"),
    [
        ({}, {}, False),
        ({"Authorization": "Bearer sk"}, {}, False),
        ({"x-goog-api-key": "k"}, {}, True),
        ({"x-goog-api-client": "google-genai-sdk/1.0 gl-node/v20"}, {}, True),
        ({}, {"key": "k"}, True),
        ({}, {"pageSize": "2"}, False),
    ],
)
def test_is_gemini_client(headers, query, gemini):
    assert is_gemini_client(headers, query) is gemini


def test_model_paths_and_their_dialects():
    paths = _model_paths(("/v1", "/gemini/v1", "/v1/gemini", "/gemini", "/v1beta/openai"))
    assert paths["/v1/models"] == Speaks.EVERY
    assert paths["/v1/models/{model:.+}"] == Speaks.EVERY
    assert paths["/gemini/v1/models"] == Speaks.EVERY  # an OpenAI prefix and a Gemini root
    assert paths["/v1beta/models"] == Speaks.GEMINI
    assert paths["/gemini/v1beta/models/{model:.+}"] == Speaks.GEMINI
    assert paths["/v1/gemini/v1alpha/models"] == Speaks.GEMINI
    assert paths["/v1/gemini/models"] == Speaks.PREFIXED
    assert paths["/v1beta/openai/models"] == Speaks.PREFIXED
    assert "/v1beta/openai/v1beta/models" not in paths  # not a Gemini root


# --- the catalog ---------------------------------------------------------------------------


def test_openai_list_and_get():
    listed = orjson.loads(CATALOG.openai_list)
    assert [m["id"] for m in listed["data"]] == ["m1", "m1-alias", "m2", "m3"]
    assert orjson.loads(CATALOG.openai_get("m1-alias") or b"") == {
        "id": "m1-alias",
        "object": "model",
        "created": 1700000000,
        "owned_by": "router",
    }
    assert orjson.loads(CATALOG.openai_get("glob-x") or b"")["id"] == "glob-x"
    assert CATALOG.openai_get("nope") is None
    assert CATALOG.openai_get("models/m1") is None  # OpenAI ids have no `models/` prefix


def test_gemini_get_with_and_without_the_models_prefix():
    for name in ("m1-alias", "models/m1-alias"):
        model = orjson.loads(CATALOG.gemini_get(name) or b"")
        assert model["name"] == "models/m1-alias"
        assert (model["inputTokenLimit"], model["outputTokenLimit"]) == (1000, 100)
        assert model["supportedGenerationMethods"] == [
            "generateContent",
            "streamGenerateContent",
            "countTokens",
        ]
    plain = orjson.loads(CATALOG.gemini_get("m2") or b"")
    assert "inputTokenLimit" not in plain and "outputTokenLimit" not in plain
    assert CATALOG.gemini_get("models/nope") is None


@pytest.mark.parametrize(
    ("size", "token", "names", "next_token"),
    [
        (None, None, ["m1", "m1-alias", "m2", "m3"], None),
        ("0", None, ["m1", "m1-alias", "m2", "m3"], None),  # 0: the default size
        ("3", None, ["m1", "m1-alias", "m2"], "3"),
        ("3", "3", ["m3"], None),
        ("2", "2", ["m2", "m3"], None),
        ("5000", "4", [], None),
    ],
)
def test_gemini_pages(size, token, names, next_token):
    page = orjson.loads(CATALOG.gemini_page(size, token))
    assert [m["name"] for m in page["models"]] == [f"models/{n}" for n in names]
    assert page.get("nextPageToken") == next_token


@pytest.mark.parametrize(("size", "token"), [("x", None), ("-1", None), (None, "5"), (None, "a")])
def test_gemini_page_refuses_what_it_never_handed_out(size, token):
    with pytest.raises(InvalidRequest):
        CATALOG.gemini_page(size, token)


# --- the OpenAI endpoint table -------------------------------------------------------------


def test_endpoint_table():
    assert [(e.suffix, e.node_path) for e in OPENAI_ENDPOINTS] == [
        ("/chat/completions", "/v1/chat/completions"),
        ("/completions", "/v1/completions"),
        ("/embeddings", "/v1/embeddings"),
        ("/responses", "/v1/responses"),
    ]
    assert OPENAI_ENDPOINTS[0] is CHAT


@pytest.mark.parametrize(
    ("endpoint", "body", "problem"),
    [
        ("completions", {"model": "m", "prompt": "hi"}, None),
        ("completions", {"model": "m", "prompt": ["a", "b"]}, None),
        ("completions", {"model": "m"}, "'prompt' is required"),
        ("embeddings", {"model": "m", "input": "hi"}, None),
        ("embeddings", {"model": "m", "input": None}, "'input' is required"),
        ("embeddings", {"input": "hi"}, "'model' is required"),
        ("responses", {"model": "m", "input": [{"role": "user", "content": "x"}]}, None),
        ("responses", {"model": "m", "messages": []}, "'input' is required"),
        ("chat/completions", {"model": "m", "prompt": "x"}, "'messages' is required"),
    ],
)
def test_parse_per_endpoint(endpoint, body, problem):
    raw = orjson.dumps(body)
    if problem is None:
        assert parse_openai(raw, ENDPOINTS[endpoint]).model == "m"
    else:
        with pytest.raises(InvalidRequest, match=problem):
            parse_openai(raw, ENDPOINTS[endpoint])


@pytest.mark.parametrize(
    ("endpoint", "injected"),
    [
        ("chat/completions", True),
        ("completions", True),
        ("embeddings", False),
        ("responses", False),
    ],
)
def test_usage_is_injected_only_where_stream_options_exist(endpoint, injected):
    route = ModelRoute("m", (Backend(node="n"),))
    parsed = OpenAIRequest("m", {"model": "m", "stream": True})
    assert wants_injected_usage(parsed, route.inject_usage, ENDPOINTS[endpoint]) is injected


@pytest.mark.parametrize("endpoint", ["completions", "embeddings", "responses"])
def test_target_paths_below_the_node_url(endpoint):
    raw = orjson.dumps({"model": "m", "input": "x", "prompt": "x"})
    target = OpenAITarget(raw, parse_openai(raw, ENDPOINTS[endpoint]), endpoint=ENDPOINTS[endpoint])
    assert target.path("", None) == f"/v1/{endpoint}"
    assert target.path("/base path", "other") == f"/base%20path/v1/{endpoint}"
    assert orjson.loads(target.body("renamed"))["model"] == "renamed"
    assert target.body(None) == raw


# --- routes.yaml `limits:` -------------------------------------------------------------------

LIMITS_YAML = """\
version: 1
nodes: {n: {url: "http://127.0.0.1:9001"}}
models:
  m:
    backends: [{node: n}]
    limits: {input_tokens: 1048576, output_tokens: 65536}
"""


def test_limits_are_read():
    config = parse_config(LIMITS_YAML, environ={})
    assert config.models["m"].limits == TokenLimits(1048576, 65536)
    no_limits = LIMITS_YAML.replace(
        "    limits: {input_tokens: 1048576, output_tokens: 65536}\n", ""
    )
    assert parse_config(no_limits, environ={}).models["m"].limits == TokenLimits()


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ("{input_tokens: 0}", "6|models.m.limits.input_tokens|must be at least 1"),
        ("{output_tokens: many}", "6|models.m.limits.output_tokens|must be an integer"),
        ("{input: 5}", "6|models.m.limits.input|unknown key"),
        ("[1]", "6|models.m.limits|must be a mapping"),
    ],
)
def test_limits_problems_name_path_and_line(limits, expected):
    text = LIMITS_YAML.replace("{input_tokens: 1048576, output_tokens: 65536}", limits)
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), environ={})
    found = [f"{p.line}|{p.path}|{p.message}" for p in info.value.problems]
    assert any(p.startswith(expected) for p in found), found


# --- the mock node's answers, read as the router reads them --------------------------------


def _tapped(frames: list[bytes], *, stream: bool) -> Usage | None:
    tap = UsageTap(OPENAI_ANSWERS, is_stream=stream)
    for frame in frames:
        tap.feed(frame)
    return tap.finish()


def test_mock_embeddings_base64_and_floats():
    floats = embeddings({"model": "m", "input": ["hello", "world!"]})
    assert [d["index"] for d in floats["data"]] == [0, 1]
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    packed = embeddings({"model": "m", "input": ["hello", "world!"], "encoding_format": "base64"})
    decoded = struct.unpack("<8f", base64.b64decode(packed["data"][1]["embedding"]))
    assert decoded == pytest.approx(floats["data"][1]["embedding"])
    assert _tapped([orjson.dumps(floats)], stream=False) == Usage(3, 0, 0)


def test_mock_completions_and_their_usage():
    body = {"model": "m", "prompt": "hello"}
    answer = completion(body, ANSWER, "cmpl-1", 1)
    assert answer["choices"][0]["text"] == ANSWER.content
    assert _tapped([orjson.dumps(answer)], stream=False) == Usage(2, 20, 0)
    plain = completion_stream({**body, "stream": True}, ANSWER, "c", 1, usage_always=False)
    assert plain[-1] == b"data: [DONE]\n\n" and b'"usage":{' not in b"".join(plain)
    asked = {**body, "stream": True, "stream_options": {"include_usage": True}}
    frames = completion_stream(asked, ANSWER, "c", 1, usage_always=False)
    assert orjson.loads(frames[-2][6:])["choices"] == []
    assert _tapped(frames, stream=True) == Usage(2, 20, 0)


def test_mock_responses_and_their_usage():
    body = {"model": "m", "input": [{"role": "user", "content": "hello"}]}
    answer = response(body, ANSWER, "r1", 1)
    assert answer["output"][0]["content"][0]["text"] == ANSWER.content
    assert _tapped([orjson.dumps(answer)], stream=False) == Usage(2, 20, 16)
    frames = response_stream({**body, "stream": True}, ANSWER, "r1", 1)
    assert frames[0].startswith(b"event: response.created\ndata: ")
    assert frames[-1].startswith(b"event: response.completed\ndata: ")
    numbers = [orjson.loads(f.split(b"data: ", 1)[1])["sequence_number"] for f in frames]
    assert numbers == list(range(len(frames)))
    # Split anywhere, the tap still finds the usage of `response.completed` only.
    joined = b"".join(frames)
    assert _tapped([joined[:700], joined[700:]], stream=True) == Usage(2, 20, 16)
