"""The model endpoints and Google's OpenAI-compatible base URL, driven by the official SDKs.

One router (memory backend, no keys) in front of one mock node serves every test: the
openai SDKs (Python and Node) list and retrieve models, the google-genai SDKs (Python with
`api_version` v1beta and v1, and @google/genai for Node) list and get them in Gemini's
format, `/v1/models` answers each client in its own format, and `server.prefixes` with
`/v1beta/openai` serves the openai SDK pointed at Google's OpenAI-compatible base URL
without disturbing the Gemini-native routes under `/v1beta`.
"""

from __future__ import annotations

import json

import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support import GEMINI_BODY, MockNodes, Proc, chat_body, http_request, routes_yaml
from tests.support.node_sdk import run_node

pytestmark = pytest.mark.integration

LIMITS = {"input_tokens": 1048576, "output_tokens": 65536}
PREFIXES = ["/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini", "/v1beta/openai"]
LISTED = {"gemini-ok", "gemini-alias", "gemini-plain"}


MOCK_NODES = {"good": ()}


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers) -> Proc:
    backend = [{"node": "good"}]
    models = {
        "gemini-ok": {"backends": backend, "aliases": ["gemini-alias"], "limits": LIMITS},
        "gemini-plain": {"backends": backend},
        "glob-*": {"backends": backend},
    }
    text = routes_yaml(
        {"good": {"url": mock_nodes["good"].url}}, models, server={"prefixes": PREFIXES}
    )
    proc: Proc = routers.get(text)
    return proc


def _openai(router: Proc, prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-none", base_url=router.base_url + prefix, max_retries=0)


def _genai(router: Proc, version: str) -> genai.Client:
    options = types.HttpOptions(base_url=router.base_url, api_version=version)
    return genai.Client(api_key="goog-none", http_options=options)


# --- OpenAI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1", "/gemini/v1", "/v1beta/openai"])
def test_openai_python_lists_and_retrieves_models(router: Proc, prefix: str) -> None:
    client = _openai(router, prefix)
    assert {m.id for m in client.models.list()} == LISTED
    model = client.models.retrieve("gemini-ok")
    assert (model.id, model.object, model.owned_by) == ("gemini-ok", "model", "router")
    # An alias and a name only a glob serves answer under the name the client asked for.
    assert client.models.retrieve("gemini-alias").id == "gemini-alias"
    assert client.models.retrieve("glob-anything").id == "glob-anything"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert "no-such-model" in str(info.value)
    assert isinstance(info.value.body, dict)


def test_openai_unknown_model_is_404_in_the_error_shape(router: Proc) -> None:
    status, headers, raw = http_request("GET", router.base_url + "/v1/models/no-such-model")
    assert status == 404
    document = json.loads(raw)
    assert set(document) == {"success", "error", "trace_id"}, document
    assert document["error"]["code"] == "model_not_found", document
    assert document["trace_id"] == headers.get("X-Request-ID")


def test_openai_node_lists_and_retrieves_models(router: Proc) -> None:
    script = """
import OpenAI from "openai";
const client = new OpenAI({ apiKey: "sk-none", baseURL: process.env.BASE, maxRetries: 0 });
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
const one = await client.models.retrieve("gemini-alias");
let missing = null;
try { await client.models.retrieve("no-such-model"); } catch (e) { missing = e.status; }
console.log(JSON.stringify({ ids, one, missing }));
"""
    out = run_node(script, {"BASE": router.base_url + "/v1"})
    assert set(out["ids"]) == LISTED
    assert out["one"] == {
        "id": "gemini-alias",
        "object": "model",
        "created": out["one"]["created"],
        "owned_by": "router",
    }
    assert out["missing"] == 404


# --- Gemini ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1beta", "v1", "v1alpha"])
def test_genai_python_lists_and_gets_models(router: Proc, version: str) -> None:
    client = _genai(router, version)
    listed = {m.name: m for m in client.models.list()}
    assert set(listed) == {f"models/{name}" for name in LISTED}
    ok = listed["models/gemini-ok"]
    assert (ok.input_token_limit, ok.output_token_limit) == (1048576, 65536)
    assert ok.supported_actions == ["generateContent", "streamGenerateContent", "countTokens"]
    assert listed["models/gemini-plain"].input_token_limit is None  # none configured
    got = client.models.get(model="gemini-alias")
    assert (got.name, got.display_name, got.input_token_limit) == (
        "models/gemini-alias",
        "gemini-alias",
        1048576,
    )
    assert client.models.get(model="models/glob-x").name == "models/glob-x"
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.get(model="no-such-model")
    assert info.value.code == 404


def test_genai_python_pages_through_the_list(router: Proc) -> None:
    client = _genai(router, "v1beta")
    pager = client.models.list(config=types.ListModelsConfig(page_size=2))
    assert len(pager.page) == 2
    assert {m.name for m in pager} == {f"models/{name}" for name in LISTED}


def test_genai_node_lists_and_gets_models(router: Proc) -> None:
    script = """
import { GoogleGenAI } from "@google/genai";
const out = {};
for (const apiVersion of ["v1beta", "v1"]) {
  const ai = new GoogleGenAI({ apiKey: "goog-none", apiVersion,
                              httpOptions: { baseUrl: process.env.BASE } });
  const names = [];
  for await (const m of await ai.models.list()) names.push(m.name);
  const one = await ai.models.get({ model: "gemini-ok" });
  let missing = null;
  try { await ai.models.get({ model: "no-such-model" }); } catch (e) { missing = e.status; }
  out[apiVersion] = { names, one, missing };
}
console.log(JSON.stringify(out));
"""
    out = run_node(script, {"BASE": router.base_url})
    for version in ("v1beta", "v1"):
        seen = out[version]
        assert set(seen["names"]) == {f"models/{name}" for name in LISTED}, version
        assert seen["one"]["name"] == "models/gemini-ok"
        assert seen["one"]["inputTokenLimit"] == 1048576
        assert seen["one"]["outputTokenLimit"] == 65536
        assert seen["missing"] == 404


@pytest.mark.parametrize(
    ("headers", "gemini"),
    [
        ({}, False),
        ({"Authorization": "Bearer sk-x"}, False),
        ({"x-goog-api-key": "k"}, True),
        ({"x-goog-api-client": "google-genai-sdk/1 gl-python/3"}, True),
    ],
)
def test_v1_models_answers_in_the_clients_format(
    router: Proc, headers: dict[str, str], gemini: bool
) -> None:
    status, _, raw = http_request("GET", router.base_url + "/v1/models", headers=headers)
    assert status == 200
    document = json.loads(raw)
    assert ("models" in document) is gemini and ("data" in document) is not gemini, document
    # Gemini-only paths answer Gemini's format whoever asks.
    status, _, raw = http_request("GET", router.base_url + "/v1beta/models", headers=headers)
    assert "models" in json.loads(raw)


def test_v1_models_key_query_means_gemini(router: Proc) -> None:
    status, _, raw = http_request("GET", router.base_url + "/v1/models/gemini-ok?key=k")
    assert status == 200
    assert json.loads(raw)["name"] == "models/gemini-ok"


def test_gemini_post_routes_still_work_beside_the_model_gets(router: Proc) -> None:
    """`/v1/models/{x}` is both the model get (GET) and the Gemini action route (POST)."""
    client = _genai(router, "v1")
    answer = client.models.generate_content(model="gemini-ok", contents="hello")
    assert answer.text and "Hello from good." in answer.text
    assert client.models.count_tokens(model="gemini-ok", contents="hello").total_tokens == 2
    status, _, raw = http_request(
        "POST",
        router.base_url + "/v1beta/models/gemini-ok:generateContent",
        json.dumps(GEMINI_BODY).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw[:300]


# --- Google's OpenAI-compatible base URL ----------------------------------------------------


def test_v1beta_openai_prefix_serves_the_openai_sdk(router: Proc, mock_nodes: MockNodes) -> None:
    client = _openai(router, "/v1beta/openai/")
    answer = client.chat.completions.create(
        model="gemini-ok", messages=[{"role": "user", "content": "hello"}]
    )
    assert (
        answer.choices[0].message.content
        == "Hello from good. Part 2 of 5. Part 3 of 5. Part 4 of 5. Part 5 of 5."
    )
    seen = mock_nodes["good"].last_request()
    assert seen is not None and seen["path"] == "/v1/chat/completions"
    stream = client.chat.completions.create(
        model="gemini-ok", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("Hello from good.")
    # The Gemini-native routes under /v1beta are untouched by the prefix.
    assert (
        _genai(router, "v1beta").models.generate_content(model="gemini-ok", contents="hello").text
    )
    status, _, raw = http_request(
        "POST",
        router.base_url + "/v1beta/openai/chat/completions",
        json.dumps(chat_body("gemini-ok")).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and json.loads(raw)["object"] == "chat.completion"
