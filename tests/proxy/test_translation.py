"""Translation wired into the proxy (issue 28 item 3), in process against the fake
transport: a node of one dialect serves a client of the other, whole answers, streams,
errors, embeddings and token counts, with failover, fallbacks_on and billing's usage as
for a relayed answer. The real SDKs against real nodes are in
tests/integration/sdk/test_translation_*.py."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from tests.support import GEMINI_BODY, chat_body, eventually, node_entry, routes_yaml
from tests.support.fake_transport import SSE, Chunk, FakeNodes, Script, answer_stream
from tests.support.routes import sse_data

NODES = {
    "google": node_entry("http://127.0.0.1:9/google", api_key="kg", dialect="gemini"),
    "vllm": node_entry("http://127.0.0.1:9/vllm", api_key="ko", dialect="openai"),
}
JSON = (("Content-Type", "application/json"),)
GENERATE = "/v1beta/models/m:generateContent"
STREAM = "/v1beta/models/m:streamGenerateContent"
USAGE = {
    "promptTokenCount": 7,
    "candidatesTokenCount": 3,
    "thoughtsTokenCount": 5,
    "totalTokenCount": 15,
}


def gemini_chunk(*parts: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    document = {"candidates": [candidate], "responseId": "r-1", "modelVersion": "m-1", **extra}
    return b"data: " + orjson.dumps(document) + b"\r\n\r\n"


GEMINI_STREAM = Script(
    headers=SSE,
    chunks=(
        gemini_chunk({"text": "Thinking.", "thought": True}),
        gemini_chunk({"text": "Hello"}),
        gemini_chunk({"text": " world"}, finish="STOP", usageMetadata=USAGE),
    ),
)
GEMINI_ANSWER = Script(
    headers=JSON,
    chunks=(
        orjson.dumps(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"text": "Thinking.", "thought": True}, {"text": "Hi"}],
                        },
                        "finishReason": "MAX_TOKENS",
                    }
                ],
                "usageMetadata": USAGE,
                "responseId": "r-1",
            }
        ),
    ),
)


def backends(*names: str) -> dict[str, Any]:
    return {"backends": [{"node": name, "priority": i} for i, name in enumerate(names)]}


async def start(router_app: Any, fake: FakeNodes, models: dict[str, Any], **extra: Any) -> Any:
    return await router_app(routes_yaml(NODES, models, **extra), fake)


def access_line(logs: list[dict[str, Any]]) -> dict[str, Any]:
    (line,) = [e for e in logs if e["event"] == "access"]
    return line


async def test_an_openai_client_gets_a_gemini_nodes_whole_answer(router_app: Any) -> None:
    fake = FakeNodes({"google": GEMINI_ANSWER})
    client = await start(router_app, fake, {"m": backends("google")})
    with capture_logs() as logs:
        body = chat_body("m", reasoning_effort="low", include_thoughts=True, max_tokens=9)
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status == 200
        answer = await response.json()
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (sent,) = fake.received
    assert sent.path == f"/google{GENERATE}"
    assert ("x-goog-api-key", "kg") in sent.headers
    node_body = orjson.loads(sent.body)
    assert node_body["contents"] == [{"role": "user", "parts": [{"text": "hello"}]}]
    config = node_body["generationConfig"]
    assert config["maxOutputTokens"] == 9
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}
    choice = answer["choices"][0]
    assert choice["message"]["content"] == "Hi"
    assert choice["message"]["reasoning_content"] == "Thinking."
    assert choice["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 8  # Gemini's thoughts counted in
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5
    assert response.headers["Content-Type"].startswith("application/json")
    line = access_line(logs)
    assert line["usage"] == {"prompt": 7, "completion": 3, "reasoning": 5}  # billing's
    (attempt,) = line["attempts"]
    assert (attempt["dialect"], attempt["translated"]) == ("gemini", True)
    metrics = await (await client.get("/metrics")).text()
    labels = 'client_dialect="openai",model="m",node_dialect="gemini"'
    assert f"router_translated_answers_total{{{labels}}} 1.0" in metrics


@pytest.mark.parametrize("include_usage", [False, True])
async def test_a_gemini_stream_reaches_an_openai_client_event_by_event(
    router_app: Any, include_usage: bool
) -> None:
    fake = FakeNodes({"google": GEMINI_STREAM})
    client = await start(router_app, fake, {"m": backends("google")})
    body = chat_body("m", stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=body)
        text = await response.text()
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (sent,) = fake.received
    assert sent.path == f"/google{STREAM}?alt=sse"
    events = sse_data(text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert {"reasoning_content": "Thinking."} in deltas
    assert "".join(d.get("content", "") for d in deltas) == "Hello world"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    usage_chunks = [c for c in chunks if not c["choices"]]
    assert len(usage_chunks) == int(include_usage)  # only when the client asked
    if include_usage:
        assert usage_chunks[0]["usage"]["completion_tokens"] == 8
    # Billing reads the node's usage either way, translated.
    assert access_line(logs)["usage"] == {"prompt": 7, "completion": 3, "reasoning": 5}


async def test_a_gemini_client_streams_an_openai_nodes_answer_as_a_json_array(
    router_app: Any,
) -> None:
    usage = {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    usage["completion_tokens_details"] = {"reasoning_tokens": 2}  # type: ignore[assignment]
    chunks = (*answer_stream("Hello")[:-1], orjson.dumps({"choices": [], "usage": usage}))
    stream = (*chunks[:-1], b"data: " + chunks[-1] + b"\n\n", b"data: [DONE]\n\n")
    fake = FakeNodes({"vllm": Script(headers=SSE, chunks=stream)})
    client = await start(router_app, fake, {"m": backends("vllm")})
    with capture_logs() as logs:
        response = await client.post(STREAM, json=GEMINI_BODY)  # no alt=sse: a JSON array
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        answer = orjson.loads(await response.read())
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (sent,) = fake.received
    assert sent.path == "/vllm/v1/chat/completions"
    assert ("Authorization", "Bearer ko") in sent.headers
    node_body = orjson.loads(sent.body)
    assert node_body["stream"] is True and node_body["stream_options"] == {"include_usage": True}
    texts = [p.get("text", "") for c in answer for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(texts) == "Hello"
    assert answer[-1]["usageMetadata"]["thoughtsTokenCount"] == 2
    assert access_line(logs)["usage"] == {"prompt": 4, "completion": 4, "reasoning": 2}


async def test_a_nodes_error_reaches_the_client_in_its_shape_and_status(router_app: Any) -> None:
    error = {"error": {"code": 400, "message": "bad schema", "status": "INVALID_ARGUMENT"}}
    fake = FakeNodes({"google": Script(status=400, headers=JSON, chunks=(orjson.dumps(error),))})
    client = await start(router_app, fake, {"m": backends("google")})
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 400
    answer = await response.json()
    assert answer["error"]["message"] == "bad schema"
    assert answer["error"]["type"] == "invalid_request_error" and answer["success"] is False


async def test_failover_crosses_dialects_before_the_first_byte(router_app: Any) -> None:
    fake = FakeNodes({"google": Script(status=503), "vllm": Script(chunks=answer_stream("ok"))})
    fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("from vllm"))
    client = await start(router_app, fake, {"m": backends("google", "vllm")})
    with capture_logs() as logs:
        response = await client.post(f"{STREAM}?alt=sse", json=GEMINI_BODY)
        text = await response.text()
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    assert fake.posted_to() == ["google", "vllm"]
    parts = [orjson.loads(e)["candidates"][0]["content"]["parts"] for e in sse_data(text, "\r\n")]
    assert "".join(p[0].get("text", "") for p in parts if p) == "from vllm"
    attempts = access_line(logs)["attempts"]
    assert [(a["node"], a["dialect"], a["translated"]) for a in attempts] == [
        ("google", "gemini", False),
        ("vllm", "openai", True),
    ]


async def test_an_answer_that_cannot_be_translated_is_failed_over(router_app: Any) -> None:
    broken = Script(headers=JSON, chunks=(b"<html>busy</html>",))
    fake = FakeNodes({"google": broken, "vllm": Script(headers=JSON, chunks=(b"{}",))})
    fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("fine"))
    models = {"m": backends("google"), "f": backends("vllm")}
    models["m"]["fallbacks"] = ["f"]
    client = await start(router_app, fake, models)
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert "fine" in await response.text()
    assert fake.posted_to() == ["google", "vllm"]


async def test_a_nodes_error_event_mid_stream_ends_the_clients_stream_in_its_dialect(
    router_app: Any,
) -> None:
    failing = Script(
        headers=SSE,
        chunks=(
            gemini_chunk({"text": "Hello"}),
            b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\n\n',
            gemini_chunk({"text": "never"}),
        ),
    )
    fake = FakeNodes({"google": failing})
    client = await start(router_app, fake, {"m": backends("google")})
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
        events = sse_data(await response.text())
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    assert "never" not in "".join(events) and "[DONE]" not in events
    last = orjson.loads(events[-1])
    assert last["success"] is False and last["error"]["code"] == "upstream_error"
    assert access_line(logs)["attempts"][0]["failure"] == "midstream"


async def test_fallbacks_on_reads_the_nodes_own_error_code(router_app: Any) -> None:
    error = {"error": {"code": 400, "message": "too long", "status": "INVALID_ARGUMENT"}}
    refusing = Script(status=400, headers=JSON, chunks=(orjson.dumps(error),))
    fake = FakeNodes({"google": refusing, "vllm": Script(headers=SSE, chunks=answer_stream("x"))})
    models = {
        "m": {**backends("google"), "fallbacks_on": {"INVALID_ARGUMENT": ["f"]}},
        "f": backends("vllm"),
    }
    client = await start(router_app, fake, models)
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert response.status == 200 and "x" in await response.text()
    assert fake.posted_to() == ["google", "vllm"]
    fake.scripts["vllm"] = Script(status=503)  # none of them answers: the first node's error
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "too long"  # in the client's shape


async def test_a_token_count_on_an_openai_only_model_is_the_routers_estimate(
    router_app: Any,
) -> None:
    fake = FakeNodes({"vllm": Script()})
    client = await start(router_app, fake, {"m": backends("vllm")})
    body = orjson.dumps(GEMINI_BODY)
    response = await client.post("/v1beta/models/m:countTokens", data=body)
    assert response.status == 200
    assert await response.json() == {"totalTokens": -(-len(body) // 4)}  # 4 bytes a token
    assert fake.received == []  # no node asked


async def test_a_field_the_node_cannot_say_is_a_400_unless_another_node_takes_it(
    router_app: Any,
) -> None:
    fake = FakeNodes({"google": GEMINI_ANSWER, "vllm": Script(headers=SSE, chunks=(b"",))})
    fake.scripts["vllm"] = Script(headers=JSON, chunks=(orjson.dumps({"choices": []}),))
    client = await start(router_app, fake, {"m": backends("google"), "both": backends("google")})
    response = await client.post("/v1/chat/completions", json=chat_body("m", logprobs=True))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "unsupported_field" and "'logprobs'" in error["message"]
    assert fake.received == []
    mixed = await start(router_app, fake, {"m": backends("google", "vllm")})
    response = await mixed.post("/v1/chat/completions", json=chat_body("m", logprobs=True))
    assert response.status == 200
    assert fake.posted_to() == ["vllm"]  # the node it can go to as it is


async def test_embeddings_are_translated_both_ways(router_app: Any) -> None:
    batch = orjson.dumps({"embeddings": [{"values": [0.5, 1.0]}, {"values": [0.25, 2.0]}]})
    rows = [{"object": "embedding", "index": 0, "embedding": [0.5, 1.0]}]
    openai_answer = orjson.dumps({"data": rows, "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    fake = FakeNodes(
        {
            "google": Script(headers=JSON, chunks=(batch,)),
            "vllm": Script(headers=JSON, chunks=(openai_answer,)),
        }
    )
    models = {"g": backends("google"), "o": backends("vllm")}
    client = await start(router_app, fake, models)
    response = await client.post("/v1/embeddings", json={"model": "g", "input": ["a", "b"]})
    answer = await response.json()
    assert [row["embedding"] for row in answer["data"]] == [[0.5, 1.0], [0.25, 2.0]]
    assert fake.received[-1].path == "/google/v1beta/models/g:batchEmbedContents"
    single = {"content": {"parts": [{"text": "a"}]}}
    response = await client.post("/v1beta/models/o:embedContent", json=single)
    assert await response.json() == {"embedding": {"values": [0.5, 1.0]}}
    assert fake.received[-1].path == "/vllm/v1/embeddings"
    assert orjson.loads(fake.received[-1].body)["input"] == ["a"]


async def test_a_translated_stream_is_not_held_back(router_app: Any) -> None:
    """Each node event reaches the client while the node still holds its next one."""
    slow = Script(headers=SSE, chunks=(gemini_chunk({"text": "first"}),), hang_after=1)
    fake = FakeNodes({"google": slow})
    client = await start(router_app, fake, {"m": backends("google")})
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    seen = b""
    async with asyncio.timeout(10):  # a bound, not a timing: held back, it never comes
        while b"first" not in seen:
            seen += await response.content.readany()
    response.close()


async def test_a_gemini_nodes_cut_answer_goes_on_at_an_openai_node(router_app: Any) -> None:
    """`on_midstream_failure: continue` from a node of one dialect to one of the other:
    the second node is sent the answer so far as a prefill in its own dialect, and its
    events join the client's stream in the client's dialect."""
    cut = Script(
        headers=SSE,
        chunks=(
            gemini_chunk({"text": "Thinking.", "thought": True}),
            gemini_chunk({"text": "Hel"}),
        ),
        fail_after=2,
    )
    usage = {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
    rest = (
        *answer_stream("lo")[:-1],
        b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\n",
        b"data: [DONE]\n\n",
    )
    fake = FakeNodes({"google": cut, "vllm": Script(headers=SSE, chunks=rest)})
    route = {**backends("google", "vllm"), "on_midstream_failure": "continue"}
    client = await start(router_app, fake, {"m": route})
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    events = sse_data(await response.text())
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = [orjson.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Hello"
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Thinking."
    assert len({c["id"] for c in chunks}) == 1  # one answer, whichever node wrote it
    assert fake.posted_to() == ["google", "vllm"]
    continued = orjson.loads(fake.received[-1].body)
    assert continued["messages"][-1]["role"] == "assistant"
    assert continued["messages"][-1]["content"] == "Hel"


async def test_an_openai_nodes_cut_answer_goes_on_at_a_gemini_node_for_a_gemini_client(
    router_app: Any,
) -> None:
    cut = Script(headers=SSE, chunks=answer_stream("Hel")[:2], fail_after=2)
    rest = Script(headers=SSE, chunks=(gemini_chunk({"text": "lo"}, finish="STOP"),))
    fake = FakeNodes({"vllm": cut, "google": rest})
    route = {**backends("vllm", "google"), "on_midstream_failure": "continue"}
    client = await start(router_app, fake, {"m": route})
    response = await client.post(f"{STREAM}?alt=sse", json=GEMINI_BODY)
    assert response.status == 200
    documents = [orjson.loads(e) for e in sse_data(await response.text(), "\r\n")]
    texts = [p.get("text", "") for d in documents for p in d["candidates"][0]["content"]["parts"]]
    assert "".join(texts) == "Hello"
    assert documents[-1]["candidates"][0]["finishReason"] == "STOP"
    assert fake.posted_to() == ["vllm", "google"]
    continued = orjson.loads(fake.received[-1].body)
    assert continued["contents"][-1] == {"role": "model", "parts": [{"text": "Hel"}]}


async def test_keepalives_of_a_translated_stream_are_in_the_clients_dialect(
    router_app: Any,
) -> None:
    """A Gemini node silent mid-answer: the OpenAI client hears SSE comments (the OpenAI
    SDKs skip them), never a Gemini-shaped line. (The ticker wakes once a second.)"""
    slow = Script(
        headers=SSE,
        chunks=(
            gemini_chunk({"text": "early"}),
            Chunk(gemini_chunk({"text": "late"}, finish="STOP"), delay=1.3),
        ),
    )
    fake = FakeNodes({"google": slow})
    client = await start(
        router_app, fake, {"m": backends("google")}, server={"keepalive_interval": 0.1}
    )
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    text = await response.text()
    assert ": keep-alive\n\n" in text
    assert text.index("early") < text.index(": keep-alive") < text.index("late")
    assert sse_data(text.replace(": keep-alive\n\n", ""))[-1] == "[DONE]"
