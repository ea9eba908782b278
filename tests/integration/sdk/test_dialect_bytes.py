"""Every byte the router writes itself, as the official SDKs read it (issue 13, part A).

One router (memory backend, keys on) in front of mock nodes started once for the module,
each with the one fault it is there for. The SDKs (google-genai and openai for Python;
@google/genai and openai for Node when installed) talk to the router over loopback:
keep-alives inside a slow Gemini stream, a node dying mid-stream, Gemini-shaped errors
with the right `status`, an in-band node error refunded and counted, a LiteLLM usage chunk
hidden, and a node's own reason, Retry-After and request id passed back.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.support import (
    GEMINI_BODY,
    MockNodes,
    Proc,
    Routers,
    eventually_blocking,
    http_request,
    routes_yaml,
)
from tests.support.billing import key_hash, log_events, scrape
from tests.support.node_sdk import run_node

pytestmark = pytest.mark.integration
T = TypeVar("T")

KEY = f"sk-db-main-{secrets.token_hex(8)}"
REFUND_KEYS = {name: f"sk-db-{name}-{secrets.token_hex(8)}" for name in ("oa", "gm")}
WRONG_KEY = f"sk-db-wrong-{secrets.token_hex(8)}"
NODE_KEY = f"sk-node-secret-{secrets.token_hex(6)}"
ADMIN = f"admin-{secrets.token_hex(8)}"
PRICING = {"pre_deduct": 5, "prompt_per_1k": 1, "completion_per_1k": 1}


class Setup:
    """The router, its nodes and where its ledger lives."""

    def __init__(self, router: Proc, nodes: MockNodes, ledger: Path) -> None:
        self.router = router
        self.nodes = nodes
        self.ledger = ledger

    @property
    def url(self) -> str:
        return self.router.base_url

    def records(self, trace: str) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        lines = [json.loads(x) for x in self.ledger.read_text().splitlines() if x.strip()]
        return [r for r in lines if str(r["request_id"]).startswith(trace + ":")]


def _config(nodes: MockNodes, ledger: Path) -> str:
    def node(name: str, **extra: object) -> dict[str, object]:
        return {"url": nodes[name].url, "retries": 0, **extra}

    entries = {
        "good": node("good"),
        "spare": node("good"),  # drained by the tests: a model with no usable node
        "slow": node("slow"),
        "cut": node("cut"),
        "inband": node("inband"),
        "litellm": node("litellm"),
        "limited": node("limited", api_key=NODE_KEY),
        "broken": node("broken"),
        "busy": node("busy"),
        "sleepy": node("sleepy", timeouts={"first_byte": 0.5}),
    }
    model_nodes = {
        "gemini-good": "good",
        "gemini-none": "spare",
        "gemini-slow": "slow",
        "gemini-cut": "cut",
        "gpt-cut": "cut",
        "gemini-inband": "inband",
        "gpt-inband": "inband",
        "gpt-litellm": "litellm",
        "gemini-limited": "limited",
        "gpt-limited": "limited",
        "gemini-broken": "broken",
        "gemini-busy": "busy",
        "gemini-sleepy": "sleepy",
        "private-good": "good",
    }
    models = {m: {"backends": [{"node": n}], "pricing": PRICING} for m, n in model_nodes.items()}
    keys = [
        {"name": "main", "hash": key_hash(KEY), "models": ["gemini-*", "gpt-*"]},
        # Exactly one reservation's worth: any charge at all refuses its next request.
        *(
            {"name": name, "hash": key_hash(key), "models": ["*"], "credits": 5}
            for name, key in REFUND_KEYS.items()
        ),
    ]
    server = {"keepalive_interval": 0.5, "max_body_mb": 0.05, "admin_token": ADMIN}
    state = {"backend": "memory", "ledger_path": str(ledger)}
    return routes_yaml(entries, models, server=server, state=state, keys=keys)


MOCK_NODES = {
    "good": ("--chunks", "3"),
    "slow": ("--chunks", "2", "--chunk-delay", "2.5"),
    "cut": ("--cut-after", "2"),
    "inband": ("--inband-error-after", "2"),
    "litellm": ("--usage-chunk-style", "litellm"),
    "limited": (
        "--api-key",
        NODE_KEY,
        "--status",
        "429",
        "--retry-after",
        "7",
        "--error-message",
        f"quota exceeded for key {NODE_KEY}",
    ),
    "broken": ("--status", "500", "--error-message", "the model crashed"),
    "busy": ("--status", "503", "--retry-after", "9", "--error-message", "overloaded"),
    "sleepy": ("--first-byte-delay", "3"),
}


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> Setup:
    ledger = tmp_path_factory.mktemp("dialect-bytes") / "usage.jsonl"
    router = routers.get(_config(mock_nodes, ledger), args=("--log-format", "json"))
    status, _, body = http_request(
        "POST",
        f"{router.base_url}/admin/nodes/spare/drain",
        b"",
        {"Authorization": f"Bearer {ADMIN}"},
    )
    assert status == 200, body
    return Setup(router, mock_nodes, ledger)


def _genai(setup: Setup, key: str = KEY) -> genai.Client:
    options = genai_types.HttpOptions(base_url=setup.url, api_version="v1beta", timeout=30_000)
    return genai.Client(api_key=key, http_options=options)


def _openai(setup: Setup, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{setup.url}/v1", api_key=key, max_retries=0, timeout=30)


def _header(headers: dict[str, str], name: str) -> str | None:
    found = [v for k, v in headers.items() if k.lower() == name.lower()]
    return found[0] if found else None


# --- keep-alives --------------------------------------------------------------------------


def test_a_slow_gemini_stream_gets_blank_line_keepalives(setup: Setup) -> None:
    status, headers, raw = http_request(
        "POST",
        f"{setup.url}/v1beta/models/gemini-slow:streamGenerateContent?alt=sse",
        json.dumps(GEMINI_BODY).encode(),
        {"x-goog-api-key": KEY, "Content-Type": "application/json"},
        timeout=20,
    )
    assert status == 200
    assert _header(headers, "X-Accel-Buffering") == "no"
    pieces = raw.split(b"\r\n\r\n")
    assert pieces[-1] == b""  # the stream ends with the node's last event
    # Between the node's two events only keep-alives: bare newlines, nothing else.
    keepalives = pieces[1][: len(pieces[1]) - len(pieces[1].lstrip(b"\n"))]
    assert len(pieces) == 3 and len(keepalives) >= 3, raw
    assert [p.lstrip(b"\n")[:8] for p in pieces[:2]] == [b'data: {"', b'data: {"']
    assert pieces[0].startswith(b"data: ")  # no keep-alive before the first event


def test_google_genai_reads_a_stream_through_keepalives(setup: Setup) -> None:
    client = _genai(setup)
    chunks = list(client.models.generate_content_stream(model="gemini-slow", contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello from slow. Part 2 of 2."


# google-genai's async client subclasses aiohttp's ClientSession (it reads the stream with
# aiohttp when aiohttp is installed), which aiohttp warns about.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_google_genai_async_reads_a_stream_through_keepalives(setup: Setup) -> None:
    async with _genai(setup).aio as client:  # closed, or its connection leaks
        stream = await client.models.generate_content_stream(model="gemini-slow", contents="hi")
        text = "".join([c.text or "" async for c in stream])
    assert text == "Hello from slow. Part 2 of 2."


def test_google_genai_node_reads_a_stream_through_keepalives(setup: Setup) -> None:
    result = run_node(
        _NODE_GENAI_PRELUDE
        + """
const stream = await ai.models.generateContentStream({model: "gemini-slow", contents: "hi"});
let text = "";
for await (const chunk of stream) { text += chunk.text ?? ""; }
console.log(JSON.stringify({text}));
""",
        {"ROUTER_URL": setup.url, "KEY": KEY},
    )
    assert result == {"text": "Hello from slow. Part 2 of 2."}


_NODE_GENAI_PRELUDE = """
import {GoogleGenAI} from "@google/genai";
const ai = new GoogleGenAI({apiKey: process.env.KEY,
  httpOptions: {baseUrl: process.env.ROUTER_URL, apiVersion: "v1beta"}});
"""
_NODE_OPENAI_PRELUDE = """
import OpenAI from "openai";
const client = new OpenAI({apiKey: process.env.KEY, baseURL: process.env.ROUTER_URL + "/v1",
  maxRetries: 0});
"""


# --- a node dying mid-stream ---------------------------------------------------------------


def test_google_genai_raises_when_the_node_dies_mid_stream(setup: Setup) -> None:
    client = _genai(setup)
    with pytest.raises(genai_errors.APIError) as caught:
        for _ in client.models.generate_content_stream(model="gemini-cut", contents="hi"):
            pass
    assert (caught.value.code, caught.value.status) == (502, "UNAVAILABLE")


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_google_genai_async_raises_when_the_node_dies_mid_stream(setup: Setup) -> None:
    async with _genai(setup).aio as client:  # the SDK leaks its session otherwise
        with pytest.raises(genai_errors.APIError) as caught:
            stream = await client.models.generate_content_stream(model="gemini-cut", contents="hi")
            async for _ in stream:
                pass
    assert (caught.value.code, caught.value.status) == (502, "UNAVAILABLE")


def test_openai_raises_when_the_node_dies_mid_stream(setup: Setup) -> None:
    client = _openai(setup)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.APIError, match="mid-answer"):
        for _ in client.chat.completions.create(model="gpt-cut", messages=messages, stream=True):
            pass


def test_node_sdks_raise_when_the_node_dies_mid_stream(setup: Setup) -> None:
    genai_result = run_node(
        _NODE_GENAI_PRELUDE
        + """
let outcome = "no error";
try {
  const stream = await ai.models.generateContentStream({model: "gemini-cut", contents: "hi"});
  for await (const chunk of stream) { void chunk; }
} catch (e) { outcome = {name: e.name, status: e.status ?? null}; }
console.log(JSON.stringify({outcome}));
""",
        {"ROUTER_URL": setup.url, "KEY": KEY},
    )
    # ApiError with the status when the error line came in a read of its own; when it came
    # with the node's last event, the SDK's "Incomplete JSON segment at the end" Error.
    outcome = genai_result["outcome"]
    assert outcome in (
        {"name": "ApiError", "status": 502},
        {"name": "Error", "status": None},
    ), outcome
    openai_result = _node_stream_outcome(setup, "gpt-cut")
    assert openai_result["outcome"] != "no error"
    assert "mid-answer" in openai_result["outcome"]["message"]


# --- errors on Gemini paths, in Google's shape ----------------------------------------------

# (model, key, status, Google status, the message or a piece of it)
ERROR_CASES = [
    ("gemini-good", WRONG_KEY, 401, "UNAUTHENTICATED", "invalid or missing API key"),
    ("private-good", KEY, 403, "PERMISSION_DENIED", "may not use this model"),
    ("gemini-unknown", KEY, 404, "NOT_FOUND", "'gemini-unknown' is not served here"),
    ("gemini-limited", KEY, 429, "RESOURCE_EXHAUSTED", "quota exceeded for key [redacted]"),
    ("gemini-broken", KEY, 502, "UNAVAILABLE", "the model crashed"),
    ("gemini-none", KEY, 503, "UNAVAILABLE", "no node is available"),
    ("gemini-busy", KEY, 503, "UNAVAILABLE", "overloaded"),
    ("gemini-sleepy", KEY, 504, "DEADLINE_EXCEEDED", "in time"),
]
NO_RETRY = genai_types.HttpRetryOptions(attempts=1)


def _genai_once(setup: Setup, key: str) -> genai.Client:
    options = genai_types.HttpOptions(
        base_url=setup.url, api_version="v1beta", timeout=30_000, retry_options=NO_RETRY
    )
    return genai.Client(api_key=key, http_options=options)


# The ids name the model: the keys are random (pytest-xdist needs the same ids everywhere).
@pytest.mark.parametrize(
    ("model", "key", "status", "name", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_google_genai_sees_googles_error_shape(
    setup: Setup, model: str, key: str, status: int, name: str, message: str
) -> None:
    client = _genai_once(setup, key)
    with pytest.raises(genai_errors.APIError) as caught:
        client.models.generate_content(model=model, contents="hi")
    error = caught.value
    assert (error.code, error.status) == (status, name)
    assert message in (error.message or "")
    assert NODE_KEY not in str(error.details)


def test_google_genai_sees_a_bad_body_and_a_too_large_body_as_invalid_argument(
    setup: Setup,
) -> None:
    client = _genai_once(setup, KEY)
    bad = genai_types.GenerateContentConfig(
        http_options=genai_types.HttpOptions(extra_body={"contents": "not a list"})
    )
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-good", contents="hi", config=bad)
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-good", contents="x" * 100_000)
    assert (caught.value.code, caught.value.status) == (413, "INVALID_ARGUMENT")
    assert "max_body_mb" in (caught.value.message or "")


def test_google_genai_node_sees_googles_error_shape(setup: Setup) -> None:
    cases: list[dict[str, Any]] = [{"model": m, "key": k} for m, k, *_ in ERROR_CASES]
    expected = [(status, name, message) for _, _, status, name, message in ERROR_CASES]
    cases.append({"model": "gemini-good", "key": KEY, "extra": {"contents": "not a list"}})
    expected.append((400, "INVALID_ARGUMENT", "contents must be a list"))
    cases.append({"model": "gemini-good", "key": KEY, "text": "x" * 100_000})
    expected.append((413, "INVALID_ARGUMENT", "max_body_mb"))
    result = run_node(
        """
import {GoogleGenAI} from "@google/genai";
const out = [];
for (const c of JSON.parse(process.env.CASES)) {
  const ai = new GoogleGenAI({apiKey: c.key,
    httpOptions: {baseUrl: process.env.ROUTER_URL, apiVersion: "v1beta"}});
  const config = c.extra ? {httpOptions: {extraBody: c.extra}} : undefined;
  try {
    await ai.models.generateContent({model: c.model, contents: c.text ?? "hi", config});
    out.push("no error");
  } catch (e) {
    const body = JSON.parse(e.message);
    out.push({name: e.name, status: e.status, google: body.error.status,
              message: body.error.message});
  }
}
console.log(JSON.stringify(out));
""",
        {"ROUTER_URL": setup.url, "CASES": json.dumps(cases)},
    )
    for (status, name, message), got in zip(expected, result, strict=True):
        assert got != "no error"
        assert (got["name"], got["status"], got["google"]) == ("ApiError", status, name)
        assert message in got["message"]


def _raw(
    setup: Setup, method: str, path: str, body: bytes = b"{}", key: str | None = KEY
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", "X-Request-ID": "db-raw-1"}
    if key is not None:
        headers["x-goog-api-key"] = key
    status, got, raw = http_request(method, setup.url + path, body, headers, timeout=10)
    return status, got, json.loads(raw) if raw.startswith(b"{") else raw


def _gemini(setup: Setup, model_action: str) -> tuple[int, dict[str, str], Any]:
    """POST GEMINI_BODY to /v1beta/models/{model_action} (raw bytes back, as `_raw`)."""
    return _raw(setup, "POST", f"/v1beta/models/{model_action}", json.dumps(GEMINI_BODY).encode())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "name"),
    [
        ("POST", "/v1beta/models/gemini-good:generateContent", b"{", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/gemini-good:predict", b"{}", 404, "NOT_FOUND"),
        ("POST", "/v1beta/nothing/here", b"{}", 404, "NOT_FOUND"),
        ("PUT", "/v1beta/models/gemini-good:generateContent", None, 405, "UNIMPLEMENTED"),
        ("GET", "/v1beta/models/gemini-good:generateContent", None, 404, "NOT_FOUND"),
        ("POST", "/gemini/v1/models/gemini-good:generateContent", b"x" * 60_000, 413, None),
    ],
)
def test_errors_before_and_outside_an_endpoint_are_google_shaped_on_gemini_paths(
    setup: Setup, method: str, path: str, body: bytes | None, status: int, name: str | None
) -> None:
    got_status, headers, document = _raw(setup, method, path, body or b"")
    assert got_status == status
    error = document["error"]
    assert set(document) == {"error"} and error["code"] == status
    assert error["status"] == (name or "INVALID_ARGUMENT")
    assert error["details"][0]["requestId"] == _header(headers, "X-Request-ID") == "db-raw-1"


def test_a_missing_key_on_a_gemini_path_is_unauthenticated(setup: Setup) -> None:
    status, _, document = _raw(
        setup, "POST", "/v1beta/models/gemini-good:generateContent", key=None
    )
    assert (status, document["error"]["status"]) == (401, "UNAUTHENTICATED")


def test_openai_paths_keep_the_seeds_error_shape(setup: Setup) -> None:
    body = json.dumps({"model": "gpt-nothing", "messages": [{"role": "user", "content": "x"}]})
    status, _, document = _raw(setup, "POST", "/v1/chat/completions", body.encode())
    assert status == 404
    assert document == {
        "success": False,
        "error": {
            "code": "model_not_found",
            "message": "model 'gpt-nothing' is not served here",
            "type": "invalid_request_error",
        },
        "trace_id": "db-raw-1",
    }
    status, _, document = _raw(setup, "GET", "/v1/chat/completions", b"")
    assert status == 405 and document["success"] is False


# --- in-band errors from a node --------------------------------------------------------------


def _access_line(setup: Setup, trace: str) -> dict[str, Any]:
    def find() -> list[dict[str, Any]]:
        events = log_events(setup.router)
        return [e for e in events if e.get("event") == "access" and e.get("trace_id") == trace]

    found = eventually_blocking(find)
    assert found, f"no access line for {trace}"
    return found[0]


def _midstream_failures(setup: Setup) -> float:
    return scrape(setup.url, "router_upstream_errors_total", node="inband", reason="midstream")


def _still_has_its_credits(setup: Setup, key: str) -> None:
    """The key's balance still covers one reservation (5 credits): nothing was charged."""
    status, _, document = _raw(
        setup,
        "POST",
        "/v1beta/models/gemini-good:generateContent",
        json.dumps(GEMINI_BODY).encode(),
        key,
    )
    assert status == 200, document


def _settled_as_failed(setup: Setup, trace: str) -> None:
    records = eventually_blocking(lambda: setup.records(trace))
    assert len(records) == 1, records
    record = records[0]
    assert (record["charged"], record["outcome"], record["settled_by"]) == (0, "failed", "refund")


def test_an_in_band_error_in_an_openai_stream_is_a_refunded_counted_failure(setup: Setup) -> None:
    before = _midstream_failures(setup)
    client = _openai(setup, REFUND_KEYS["oa"])
    messages: Any = [{"role": "user", "content": "hi"}]
    stream = client.chat.completions.create(
        model="gpt-inband",
        messages=messages,
        stream=True,
        extra_headers={"X-Request-ID": "db-ib-oa"},
    )
    with pytest.raises(openai.APIError, match="in-band fault"):
        for _ in stream:
            pass
    line = _access_line(setup, "db-ib-oa")
    assert (line["status"], line["error_code"]) == (200, "upstream_error")
    assert line["attempts"][-1]["failure"] == "midstream"
    _settled_as_failed(setup, "db-ib-oa")
    assert eventually_blocking(lambda: _midstream_failures(setup) == before + 1)
    _still_has_its_credits(setup, REFUND_KEYS["oa"])


def test_an_in_band_error_in_a_gemini_stream_is_a_refunded_counted_failure(setup: Setup) -> None:
    before = _midstream_failures(setup)
    options = genai_types.HttpOptions(
        base_url=setup.url, api_version="v1beta", headers={"X-Request-ID": "db-ib-gm"}
    )
    client = genai.Client(api_key=REFUND_KEYS["gm"], http_options=options)
    with pytest.raises(genai_errors.APIError) as caught:
        for _ in client.models.generate_content_stream(model="gemini-inband", contents="hi"):
            pass
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert _access_line(setup, "db-ib-gm")["error_code"] == "upstream_error"
    _settled_as_failed(setup, "db-ib-gm")
    assert eventually_blocking(lambda: _midstream_failures(setup) == before + 1)
    _still_has_its_credits(setup, REFUND_KEYS["gm"])


def _node_stream_outcome(setup: Setup, model: str) -> dict[str, Any]:
    """What the Node openai SDK says when it reads a stream of `model` to its end: "no
    error", or the error's class name and message."""
    return run_node(
        _NODE_OPENAI_PRELUDE
        + """
let outcome = "no error";
try {
  const stream = await client.chat.completions.create({model: process.env.MODEL, stream: true,
    messages: [{role: "user", content: "hi"}]});
  for await (const chunk of stream) { void chunk; }
} catch (e) { outcome = {name: e.constructor.name, message: e.message}; }
console.log(JSON.stringify({outcome}));
""",
        {"ROUTER_URL": setup.url, "KEY": KEY, "MODEL": model},
    )


def test_node_sdks_raise_on_a_nodes_in_band_error(setup: Setup) -> None:
    result = _node_stream_outcome(setup, "gpt-inband")
    assert result["outcome"] != "no error" and "in-band fault" in result["outcome"]["message"]


# --- a LiteLLM-style usage chunk ----------------------------------------------------------------


def _litellm_chunks(setup: Setup, **options: Any) -> list[Any]:
    """A stream of gpt-litellm (a node that sends LiteLLM's usage chunk), read to its end."""
    messages: Any = [{"role": "user", "content": "hi"}]
    stream = _openai(setup).chat.completions.create(
        model="gpt-litellm", messages=messages, stream=True, **options
    )
    return list(stream)


def test_a_litellm_usage_chunk_is_hidden_from_a_client_that_did_not_ask(setup: Setup) -> None:
    chunks = _litellm_chunks(setup, extra_headers={"X-Request-ID": "db-ll"})
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Hello from")
    # The router still read it for billing.
    records = eventually_blocking(lambda: setup.records("db-ll"))
    assert records and records[0]["settled_by"] == "usage" and records[0]["prompt_tokens"] > 0


def test_a_litellm_usage_chunk_reaches_a_client_that_asked(setup: Setup) -> None:
    chunks = _litellm_chunks(setup, stream_options={"include_usage": True})
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


# --- a node's own reason, Retry-After and request id ---------------------------------------------


def test_a_nodes_429_reason_and_retry_after_reach_an_openai_client(setup: Setup) -> None:
    body = json.dumps({"model": "gpt-limited", "messages": [{"role": "user", "content": "x"}]})
    status, headers, document = _raw(setup, "POST", "/v1/chat/completions", body.encode())
    assert status == 429 and _header(headers, "Retry-After") == "7"
    assert document["error"]["code"] == "too_many_requests"
    assert document["error"]["message"] == "quota exceeded for key [redacted]"
    upstream_id = _header(headers, "X-Upstream-Request-ID")
    assert upstream_id is not None and upstream_id.startswith("mock-")
    assert _header(headers, "X-Request-ID") == "db-raw-1"


def test_a_nodes_503_keeps_its_retry_after_and_request_id(setup: Setup) -> None:
    status, headers, document = _gemini(setup, "gemini-busy:generateContent")
    assert (status, document["error"]["message"]) == (503, "overloaded")
    assert _header(headers, "Retry-After") == "9"
    assert (_header(headers, "X-Upstream-Request-ID") or "").startswith("mock-")


@pytest.mark.parametrize(
    "action",
    [
        "gemini-good:generateContent",
        "gemini-good:streamGenerateContent?alt=sse",
        "gemini-good:streamGenerateContent",
    ],
)
def test_a_success_carries_the_nodes_request_id(setup: Setup, action: str) -> None:
    status, headers, _ = _gemini(setup, action)
    assert status == 200
    assert (_header(headers, "X-Upstream-Request-ID") or "").startswith("mock-")
    assert _header(headers, "X-Request-ID") == "db-raw-1"


def test_the_json_array_gemini_stream_is_not_buffered(setup: Setup) -> None:
    status, headers, document = _gemini(setup, "gemini-good:streamGenerateContent")
    assert status == 200
    assert isinstance(json.loads(document), list)  # the JSON array, relayed as it came
    assert _header(headers, "X-Accel-Buffering") == "no"
    assert _header(headers, "Cache-Control") == "no-cache"
