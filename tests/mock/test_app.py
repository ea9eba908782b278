"""The mock worker node: answer shapes against seed 002, Gemini shapes, api key, faults, stats.

Most tests run the app in-process through `aiohttp_client` (its test server cancels handlers
when the client goes away, like the real node); tests/integration/mock/ starts it as a process.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from router.mock.faults import FaultError, Faults
from tests.support.routes import sse_data

TIMEOUT = aiohttp.ClientTimeout(total=5)
MESSAGES = [
    {"role": "system", "content": "be brief"},  # 8 characters
    {"role": "user", "content": [{"type": "text", "text": "hello world"}, {"type": "image_url"}]},
]
PROMPT_TOKENS = (8 + 11) // 4 + 1

# Shapes copied from seed 002 (a real streamed answer and its non-stream twin).
SEED_CHUNK_KEYS = ["id", "object", "created", "model", "system_fingerprint", "choices", "usage"]
SEED_CHOICE_KEYS = ["delta", "logprobs", "finish_reason", "index"]
SEED_USAGE = {
    "prompt_tokens": 8,
    "completion_tokens": 527,
    "total_tokens": 535,
    "prompt_tokens_details": {
        "cached_tokens": 0,
        "text_tokens": 8,
        "audio_tokens": 0,
        "image_tokens": 0,
    },
    "completion_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 519},
    "input_tokens": 0,
    "output_tokens": 0,
    "input_tokens_details": None,
    "claude_cache_creation_5_m_tokens": 0,
    "claude_cache_creation_1_h_tokens": 0,
}
SEED_COMPLETION_KEYS = ["id", "model", "object", "created", "choices", "usage"]


def expected_content(name: str, chunks: int) -> list[str]:
    return [f"Hello from {name}."] + [f" Part {i} of {chunks}." for i in range(2, chunks + 1)]


def shape(value: Any) -> Any:
    """The structure of a JSON value: key order and value types, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def chat(stream: bool, **extra: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-pro", "messages": MESSAGES, "stream": stream, **extra}


async def stats(client: TestClient[web.Request, web.Application]) -> dict[str, Any]:
    async with client.get("/_mock/stats") as resp:
        counters: dict[str, Any] = await resp.json()
    return counters


# --- OpenAI dialect ------------------------------------------------------------------------


async def test_stream_chunks_follow_seed_002(node):
    client = await node(chunks=3)
    body = chat(True, stream_options={"include_usage": True})
    async with client.post("/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        assert resp.headers["X-Mock-Node"] == "node62"
        text = await resp.text()
    data = sse_data(text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    role, r1, r2, c1, c2, c3, finish, usage = chunks
    for chunk in chunks:
        assert list(chunk) == SEED_CHUNK_KEYS
        assert chunk["id"] == chunks[0]["id"] and chunk["id"].startswith("chatcmpl-")
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "gemini-2.5-pro"
        assert isinstance(chunk["created"], int)
    for chunk in chunks[:-1]:
        assert chunk["system_fingerprint"] is None and chunk["usage"] is None
        assert [list(c) for c in chunk["choices"]] == [SEED_CHOICE_KEYS]
        assert chunk["choices"][0]["logprobs"] is None and chunk["choices"][0]["index"] == 0
    assert role["choices"][0]["delta"] == {"content": "", "role": "assistant"}
    assert [list(c["choices"][0]["delta"]) for c in (r1, r2)] == [["reasoning_content"]] * 2
    contents = [c["choices"][0]["delta"]["content"] for c in (c1, c2, c3)]
    assert contents == expected_content("node62", 3)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:6])
    assert finish["choices"][0]["delta"] == {} and finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["system_fingerprint"] == ""
    assert shape(usage["usage"]) == shape(SEED_USAGE)


@pytest.mark.parametrize(
    ("usage_flag", "extra", "has_usage"),
    [
        ("requested", {}, False),
        ("requested", {"stream_options": {"include_usage": False}}, False),
        ("requested", {"stream_options": {"include_usage": True}}, True),
        ("always", {}, True),
    ],
)
async def test_usage_chunk_only_when_requested_or_always(node, usage_flag, extra, has_usage):
    client = await node(chunks=2, usage_always=usage_flag == "always")
    async with client.post("/v1/chat/completions", json=chat(True, **extra)) as resp:
        data = sse_data(await resp.text())
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) == 1 + 2 + 2 + 1 + int(has_usage)
    assert (chunks[-1]["choices"] == []) is has_usage
    if has_usage:
        assert chunks[-1]["usage"]["prompt_tokens"] == PROMPT_TOKENS


async def test_non_stream_completion_and_usage(node):
    client = await node(chunks=4)
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        assert resp.status == 200
        assert resp.headers["X-Mock-Node"] == "node62"
        answer = await resp.json()
    assert list(answer) == SEED_COMPLETION_KEYS
    assert answer["id"].startswith("chatcmpl-") and answer["object"] == "chat.completion"
    assert answer["model"] == "gemini-2.5-pro"
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    assert list(choice["message"]) == ["role", "content", "reasoning_content"]
    assert choice["message"]["content"] == "".join(expected_content("node62", 4))
    assert "node62" in choice["message"]["reasoning_content"]
    usage = answer["usage"]
    assert shape(usage) == shape(SEED_USAGE)
    assert usage["prompt_tokens"] == PROMPT_TOKENS
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 16
    assert usage["completion_tokens"] == 4 * 4 + 16  # includes the reasoning tokens
    assert usage["total_tokens"] == PROMPT_TOKENS + 4 * 4 + 16


async def test_stream_defaults_to_false_and_bad_bodies_are_400(node):
    client = await node()
    async with client.post("/v1/chat/completions", json={"model": "m", "messages": []}) as resp:
        assert (await resp.json())["object"] == "chat.completion"
    for bad in (b"not json", b"[1]", b'{"messages": []}', b'{"model": "m"}'):
        async with client.post("/v1/chat/completions", data=bad) as resp:
            assert resp.status == 400
            error = await resp.json()
            assert error["success"] is False and error["error"]["code"] == "token_mismatched"


async def test_health_and_models(node):
    client = await node(name="node63")
    async with client.get("/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "node": "node63"}
        assert resp.headers["X-Mock-Node"] == "node63"
    async with client.get("/v1/models") as resp:
        models = await resp.json()
    assert models["object"] == "list"
    assert {m["object"] for m in models["data"]} == {"model"}
    assert "gemini-2.5-flash" in {m["id"] for m in models["data"]}


# --- Gemini dialect ------------------------------------------------------------------------

GEMINI_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "hello world!"}]}],  # 12 characters
    "systemInstruction": {"parts": [{"text": "be kind"}]},  # 7 characters
}
GEMINI_PROMPT = (12 + 7) // 4 + 1


@pytest.mark.parametrize("version", ["v1beta", "v1", "v1alpha"])
async def test_gemini_generate_content(node, version):
    client = await node(chunks=3)
    url = f"/{version}/models/gemini-2.5-flash:generateContent"
    async with client.post(url, json=GEMINI_BODY) as resp:
        assert resp.status == 200
        assert resp.headers["X-Mock-Node"] == "node62"
        answer = await resp.json()
    candidate = answer["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"] == [{"text": "".join(expected_content("node62", 3))}]
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    assert answer["modelVersion"] == "gemini-2.5-flash" and answer["responseId"]
    meta = answer["usageMetadata"]
    assert meta["promptTokenCount"] == GEMINI_PROMPT
    assert meta["candidatesTokenCount"] == 12  # thoughts are not included ...
    assert meta["thoughtsTokenCount"] == 16
    assert meta["totalTokenCount"] == GEMINI_PROMPT + 12 + 16  # ... but counted in the total


async def test_gemini_stream_sse(node):
    client = await node(chunks=3)
    url = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    async with client.post(url, json=GEMINI_BODY) as resp:
        assert resp.content_type == "text/event-stream"
        events = [json.loads(d) for d in sse_data(await resp.text(), "\r\n\r\n")]
    assert len(events) == 3
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    assert texts == expected_content("node62", 3)
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert all("usageMetadata" not in e for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"]["totalTokenCount"] == GEMINI_PROMPT + 12 + 16


async def test_gemini_stream_json_array(node):
    client = await node(chunks=2)
    url = "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    async with client.post(url, json=GEMINI_BODY) as resp:
        text = await resp.text()
    assert text.startswith("[{") and text.endswith("}]") and ",\r\n{" in text
    events = json.loads(text)
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == [
        "Hello from node62.",
        " Part 2 of 2.",
    ]
    assert events[-1]["usageMetadata"]["promptTokenCount"] == GEMINI_PROMPT


async def test_gemini_count_tokens_and_unknown_action(node):
    client = await node()
    async with client.post("/v1beta/models/g:countTokens", json=GEMINI_BODY) as resp:
        assert await resp.json() == {"totalTokens": GEMINI_PROMPT}
    wrapped = {"generateContentRequest": GEMINI_BODY}
    async with client.post("/v1/models/g:countTokens", json=wrapped) as resp:
        assert await resp.json() == {"totalTokens": GEMINI_PROMPT}
    async with client.post("/v1beta/models/g:predict", json=GEMINI_BODY) as resp:
        assert resp.status == 404
    assert (await stats(client))["requests"] == 2


async def test_gemini_embeddings_match_openais_for_the_same_texts(node):
    client = await node()
    one = {"content": {"parts": [{"text": "a"}]}}
    async with client.post("/v1beta/models/g:embedContent", json=one) as resp:
        single = (await resp.json())["embedding"]["values"]
    batch = {"requests": [{"model": "models/g", "content": {"parts": [{"text": t}]}} for t in "ab"]}
    async with client.post("/v1beta/models/g:batchEmbedContents", json=batch) as resp:
        vectors = [e["values"] for e in (await resp.json())["embeddings"]]
    async with client.post("/v1/embeddings", json={"model": "g", "input": ["a", "b"]}) as resp:
        openai_vectors = [row["embedding"] for row in (await resp.json())["data"]]
    assert vectors == openai_vectors and single == openai_vectors[0] and len(single) == 8


# --- api key -------------------------------------------------------------------------------


async def test_api_key_is_required_except_health_and_mock(node):
    client = await node(api_key="sk-test")
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        assert resp.status == 401
        assert resp.headers["X-Mock-Node"] == "node62"
        error = await resp.json()
    assert error["success"] is False and error["trace_id"]
    assert error["error"]["code"] == "invalid_token"
    assert error["error"]["type"] == "authentication_error"
    wrong = {"Authorization": "Bearer sk-wrong"}
    async with client.post("/v1/chat/completions", json=chat(False), headers=wrong) as resp:
        assert resp.status == 401
    async with client.get("/v1/models") as resp:
        assert resp.status == 401
    good = {"Authorization": "Bearer sk-test"}
    async with client.post("/v1/chat/completions", json=chat(False), headers=good) as resp:
        assert resp.status == 200
    goog = {"x-goog-api-key": "sk-test"}
    async with client.post("/v1beta/models/g:generateContent", json=GEMINI_BODY, headers=goog) as r:
        assert r.status == 200
    for path in ("/health", "/_mock/stats", "/_mock/faults"):
        async with client.get(path) as resp:
            assert resp.status == 200, path
    assert (await stats(client))["unauthorized"] == 3


async def test_a_single_dialect_node_serves_its_api_only_and_its_key_header_only(node):
    """--dialect gemini: Google's paths and x-goog-api-key; OpenAI's paths are 404 and a
    Bearer key is refused. --dialect openai: the other way round."""
    gemini = await node(api_key="sk-test", dialect="gemini")
    goog = {"x-goog-api-key": "sk-test"}
    bearer = {"Authorization": "Bearer sk-test"}
    path = "/v1beta/models/g:generateContent"
    async with gemini.post(path, json=GEMINI_BODY, headers=goog) as resp:
        assert resp.status == 200
    async with gemini.post(path, json=GEMINI_BODY, headers=bearer) as resp:
        assert resp.status == 401
    async with gemini.get("/v1beta/models", headers=goog) as resp:
        assert resp.status == 200
        assert (await resp.json())["models"]
    for openai_path in ("/v1/chat/completions", "/v1/embeddings", "/v1/responses"):
        async with gemini.post(openai_path, json=chat(False), headers=goog) as resp:
            assert resp.status == 404, openai_path
    openai = await node(api_key="sk-test", dialect="openai")
    async with openai.post("/v1/chat/completions", json=chat(False), headers=bearer) as resp:
        assert resp.status == 200
    async with openai.post("/v1/chat/completions", json=chat(False), headers=goog) as resp:
        assert resp.status == 401
    async with openai.post(path, json=GEMINI_BODY, headers=bearer) as resp:
        assert resp.status == 404
    async with openai.get("/v1/models", headers=bearer) as resp:
        assert resp.status == 200


# --- faults --------------------------------------------------------------------------------


async def set_faults(
    client: TestClient[web.Request, web.Application], **faults: Any
) -> dict[str, Any]:
    async with client.post("/_mock/faults", json=faults) as resp:
        assert resp.status == 200, await resp.text()
        current: dict[str, Any] = await resp.json()
    return current


async def test_status_fault_and_retry_after(node):
    client = await node()
    assert (await set_faults(client, status=503))["status"] == 503
    async with client.post("/v1/chat/completions", json=chat(True)) as resp:
        assert resp.status == 503
        error = await resp.json()
    assert error["error"] == {
        "code": "api_error",
        "message": "injected fault",
        "type": "server_error",
    }
    assert error["success"] is False and error["trace_id"]
    async with client.post("/v1beta/models/g:countTokens", json=GEMINI_BODY) as resp:
        assert resp.status == 503
    # Faults never touch /health or /_mock/*.
    async with client.get("/health") as resp:
        assert resp.status == 200
    await set_faults(client, status=429)
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"
    counters = await stats(client)
    assert counters["errors_injected"] == 3 and counters["completed"] == 0


async def test_error_rate_is_seeded_and_partial(node):
    async def outcomes(seed: int) -> list[int]:
        client = await node(Faults(status=500, error_rate=0.5), seed=seed)
        codes = []
        for _ in range(40):
            async with client.post("/v1/chat/completions", json=chat(False)) as resp:
                codes.append(resp.status)
        return codes

    first, again = await outcomes(3), await outcomes(3)
    assert first == again  # same seed, same sequence
    assert 5 <= first.count(500) <= 35 and first.count(200) == 40 - first.count(500)


async def test_health_status_fault(node):
    client = await node(Faults(health_status=503))
    async with client.get("/health") as resp:
        assert resp.status == 503
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        assert resp.status == 200  # only /health is affected


async def test_first_byte_and_chunk_delay(node):
    client = await node(chunks=3)
    await set_faults(client, first_byte_delay=0.3)
    started = time.monotonic()
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        await resp.read()
    assert 0.25 <= time.monotonic() - started < 3

    await set_faults(client, first_byte_delay=0, chunk_delay=0.05)
    started = time.monotonic()
    async with client.post("/v1/chat/completions", json=chat(True)) as resp:
        first_at = None
        async for _ in resp.content.iter_any():
            first_at = first_at or time.monotonic() - started
    total = time.monotonic() - started
    # 8 events (role, 2 reasoning, 3 content, finish, [DONE]) -> 7 gaps of 0.05 s.
    assert first_at is not None and first_at < 0.2
    assert 0.3 <= total < 3


async def test_ttft_delay_waits_after_the_role_chunk(node):
    client = await node(chunks=2)
    await set_faults(client, ttft_delay=0.4)
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    async with client.post("/v1/chat/completions", json=chat(True)) as resp:
        async for data in resp.content.iter_any():
            arrivals.append((time.monotonic() - started, data))
    assert arrivals[0][0] < 0.3 and b'"role":"assistant"' in arrivals[0][1]
    content_at = next(t for t, data in arrivals if b"reasoning_content" in data)
    assert content_at >= 0.35
    started = time.monotonic()  # a whole answer waits too
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        await resp.read()
    assert time.monotonic() - started >= 0.35


async def test_ttft_rate_applies_to_a_share_of_requests(node):
    client = await node(chunks=1, seed=7)
    await set_faults(client, ttft_delay=0.2, ttft_rate=0.5)
    slow = 0
    for _ in range(20):
        started = time.monotonic()
        async with client.post("/v1/chat/completions", json=chat(False)) as resp:
            await resp.read()
        slow += time.monotonic() - started >= 0.18
    assert 3 <= slow <= 17


async def test_stall_after_role_sends_the_role_chunk_then_nothing(node):
    client = await node()
    await set_faults(client, stall_after_role=True)
    received = b""
    with pytest.raises(TimeoutError):
        async with client.post(
            "/v1/chat/completions", json=chat(True), timeout=aiohttp.ClientTimeout(total=0.5)
        ) as resp:
            assert resp.status == 200
            async for data in resp.content.iter_any():
                received += data
    events = sse_data(received.decode())
    assert len(events) == 1 and json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"


async def read_until_broken(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    received = b""
    try:
        async for data in resp.content.iter_any():
            received += data
    except aiohttp.ClientError as exc:
        return received, exc
    return received, None


async def test_cut_after_aborts_the_stream(node):
    client = await node(chunks=3)
    await set_faults(client, cut_after=3)
    async with client.post("/v1/chat/completions", json=chat(True)) as resp:
        assert resp.status == 200
        received, error = await read_until_broken(resp)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert len(sse_data(received.decode())) == 3 and b"[DONE]" not in received
    counters = await stats(client)
    assert (counters["cut"], counters["completed"], counters["cancelled"]) == (1, 0, 0)


async def test_cut_after_non_stream_and_zero(node):
    client = await node()
    await set_faults(client, cut_after=1)
    async with client.post("/v1/chat/completions", json=chat(False)) as resp:
        _, error = await read_until_broken(resp)
    assert isinstance(error, aiohttp.ClientPayloadError)
    await set_faults(client, cut_after=0)  # dropped before any byte of the answer
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post("/v1beta/models/g:generateContent", json=GEMINI_BODY)
    assert (await stats(client))["cut"] == 2


async def test_hang_is_cancelled_when_the_client_leaves(node):
    client = await node()
    await set_faults(client, hang=True)
    with pytest.raises(TimeoutError):
        await client.post(
            "/v1/chat/completions", json=chat(True), timeout=aiohttp.ClientTimeout(total=0.3)
        )
    for _ in range(150):  # the server notices the closed connection a moment later
        counters = await stats(client)
        if counters["cancelled"]:
            break
        await asyncio.sleep(0.02)
    assert counters["inflight"] == 0 and counters["completed"] == 0
    assert counters["last_cancel_at"] == pytest.approx(time.time(), abs=5)


async def test_fault_updates_validate_and_reset(node):
    client = await node()
    for bad in ({"status": "500"}, {"error_rate": 2}, {"cut_after": -1}, {"nope": 1}):
        async with client.post("/_mock/faults", json=bad) as resp:
            assert resp.status == 400, bad
    await set_faults(client, status=502, hang=True, chunk_delay=0.5)
    async with client.get("/_mock/faults") as resp:
        assert (await resp.json())["status"] == 502
    assert await set_faults(client, reset=True) == Faults().as_dict()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": True}, "status"),
        ({"status": 1000}, "status"),
        ({"first_byte_delay": -1}, "first_byte_delay"),
        ({"hang": 1}, "hang"),
        ({"health_status": "x"}, "health_status"),
        ({"reset": "yes"}, "reset"),
        ({"inband_error_after": -1}, "inband_error_after"),
        ({"usage_chunk_style": "openai"}, "usage_chunk_style"),
        ({"error_message": ""}, "error_message"),
        ({"retry_after": 7}, "retry_after"),
    ],
)
def test_fault_update_rejects_bad_values_atomically(payload, message):
    faults = Faults(chunk_delay=0.1)
    with pytest.raises(FaultError, match=message):
        faults.update({"cut_after": 2, **payload})
    assert faults == Faults(chunk_delay=0.1)


def test_new_faults_are_set_and_reset():
    faults = Faults()
    update = {"inband_error_after": 2, "usage_chunk_style": "litellm", "retry_after": "9"}
    faults.update({**update, "error_message": "busy"})
    assert (faults.inband_error_after, faults.usage_chunk_style) == (2, "litellm")
    assert (faults.retry_after, faults.error_message) == ("9", "busy")
    faults.update({"retry_after": None})
    assert faults.retry_after is None
    faults.update({"reset": True})
    assert faults == Faults()


# --- introspection -------------------------------------------------------------------------


async def test_last_request_and_stats(node):
    client = await node()
    async with client.get("/_mock/last_request") as resp:
        assert await resp.json() is None
    body = json.dumps(chat(True, stream_options={"include_usage": True})).encode()
    headers = {"Authorization": "Bearer abc", "X-Request-ID": "req-1"}
    async with client.post("/v1/chat/completions?x=1", data=body, headers=headers) as resp:
        await resp.read()
    async with client.get("/_mock/last_request") as resp:
        seen = await resp.json()
    assert seen["method"] == "POST" and seen["path"] == "/v1/chat/completions"
    assert seen["query"] == {"x": "1"}
    assert seen["headers"]["Authorization"] == "Bearer abc"
    assert seen["headers"]["X-Request-ID"] == "req-1"
    assert seen["body_len"] == len(body)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["model"] == "gemini-2.5-pro"
    assert seen["stream_options"] == {"include_usage": True}

    async with client.post("/v1beta/models/g:generateContent", json=GEMINI_BODY) as resp:
        await resp.read()
    counters = await stats(client)
    assert counters["requests"] == 2 and counters["completed"] == 2
    assert counters["by_node_path"] == {
        "/v1/chat/completions": 1,
        "/v1beta/models/g:generateContent": 1,
    }
    async with client.post("/_mock/stats/reset") as resp:
        assert (await resp.json())["requests"] == 0
    assert (await stats(client))["by_node_path"] == {}


async def test_accepts_large_bodies(node):
    client = await node()
    big = "x" * (3 * 1024 * 1024)  # past aiohttp's 1 MiB default
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": big}]}).encode()
    async with client.post("/v1/chat/completions", data=io.BytesIO(body)) as resp:
        assert resp.status == 200
        assert (await resp.json())["usage"]["prompt_tokens"] == len(big) // 4 + 1


# --- as a real process ---------------------------------------------------------------------
