"""router.dialects.translated: a request translated for a node of another dialect, and
that node's answers read back, pure (no I/O): hostile node bytes, split anywhere, end in
client bytes or an UntranslatableAnswer, never another exception."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.names import DialectName
from router.dialects.registry import codec
from router.dialects.translated import TranslatedRequest
from router.errors import RouterError

OPENAI, GEMINI = codec(DialectName.OPENAI), codec(DialectName.GEMINI)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
GEMINI_EVENT = (
    b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}\r\n\r\n'
)


def translating(client_is_openai: bool, *, stream: bool = True) -> TranslatedRequest:
    client, node = (OPENAI, GEMINI) if client_is_openai else (GEMINI, OPENAI)
    assert client.translation is not None and node.translation is not None
    if client_is_openai:
        wire = WireRequest({**CHAT, "stream": stream}, "m", stream=stream)
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        wire = WireRequest(body, "m", stream=stream)
    return TranslatedRequest(
        client=client.translation,
        node=node.translation,
        node_side=node.nodes,
        operation=Operation.CHAT,
        request=client.translation.decode_request(wire),
        json_array=False,
        request_id="r",
        prompt_estimate=1,
    )


def read_all(request: TranslatedRequest, chunks: list[bytes], status: int, media: str) -> bytes:
    answer = request.answer(status, media, 1)
    out = b"".join(answer.feed(chunk) for chunk in chunks)
    return out + answer.finish()


PIECES = st.sampled_from(
    [
        GEMINI_EVENT,
        b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n',
        b"data: [DONE]\n\n",
        b'data: {"error": {"code": 503, "message": "down"}}\n\n',
        b"data: {",
        b"\r\n",
        b"\n\n",
        b'{"candidates": 7}',
        b"[",
        b"]",
        b": keep-alive\n\n",
        b"\xff\xfe",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=20),
    st.sampled_from([(200, "text/event-stream"), (200, "application/json"), (400, "text/html")]),
)
def test_any_node_bytes_translate_or_fail_as_the_routers_error(
    client_is_openai: bool, stream: bool, chunks: list[bytes], head: tuple[int, str]
) -> None:
    request = translating(client_is_openai, stream=stream)
    try:
        out = read_all(request, chunks, *head)
    except RouterError:
        return  # UntranslatableAnswer: the node's answer failed over, never a 500
    assert isinstance(out, bytes)


def test_a_gemini_stream_reaches_an_openai_client_event_by_event() -> None:
    answer = translating(True).answer(200, "text/event-stream", 1)
    first = answer.feed(GEMINI_EVENT[:20])
    assert first == b""  # half an event: nothing yet
    out = answer.feed(GEMINI_EVENT[20:])
    chunks = [orjson.loads(e[6:]) for e in out.split(b"\n\n") if e]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
    ]
    assert answer.content_type == "text/event-stream" and not answer.is_whole


@pytest.mark.parametrize("client_is_openai", [True, False])
def test_a_nodes_error_answer_is_the_clients_shape(client_is_openai: bool) -> None:
    body = (
        b'{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}'
        if client_is_openai
        else b'{"error": {"message": "slow down", "type": "rate_limit_error"}}'
    )
    out = orjson.loads(read_all(translating(client_is_openai), [body], 429, "application/json"))
    assert out["error"]["message"] == "slow down"
    if client_is_openai:
        assert out["error"]["type"] == "rate_limit_error" and out["success"] is False
    else:
        assert out["error"]["status"] == "RESOURCE_EXHAUSTED" and out["error"]["code"] == 429
