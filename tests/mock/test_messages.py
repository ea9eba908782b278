"""The mock node on Anthropic's Messages API (`--dialect anthropic`), read by the anthropic
SDK's own types, and its scripted tool calls (the `tool_call` fault) in every dialect."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from pydantic import TypeAdapter

from router.mock.faults import Faults
from router.mock.tools import RESULT_PREFIX, ToolCall

VERSION = {"anthropic-version": "2023-06-01"}
KEYED = {**VERSION, "x-api-key": "node-key"}
ASK: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hello world"}],
}
EVENTS = TypeAdapter(RawMessageStreamEvent)
READ = {"name": "Read", "arguments": {"file_path": "/tmp/notes.txt"}}
TOOLS = [{"name": "Read", "input_schema": {"type": "object"}}, {"name": "Bash", "input_schema": {}}]


def events(text: str) -> list[Any]:
    found = []
    for raw in text.split("\n\n"):
        if not raw:
            continue
        name, data = raw.split("\n", 1)
        payload = data.removeprefix("data: ")
        if name == "event: ping":  # the SDK skips pings: its stream events have no type of them
            assert orjson.loads(payload) == {"type": "ping"}
            found.append(SimpleNamespace(type="ping"))
            continue
        event = EVENTS.validate_json(payload)
        assert name == f"event: {event.type}"
        found.append(event)
    return found


async def post(client: Any, body: dict[str, Any], headers: dict[str, str] = KEYED) -> Any:
    async with client.post("/v1/messages", json=body, headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_an_anthropic_node_wants_its_key_and_version_and_speaks_nothing_else(node):
    client = await node(dialect="anthropic", api_key="node-key")
    status, _, text = await post(client, ASK, VERSION)
    assert status == 401 and orjson.loads(text)["error"]["type"] == "authentication_error"
    bearer = {**VERSION, "Authorization": "Bearer node-key"}  # an OAuth token there, not a key
    assert (await post(client, ASK, bearer))[0] == 401
    status, _, text = await post(client, ASK, {"x-api-key": "node-key"})
    assert status == 400 and "anthropic-version" in orjson.loads(text)["error"]["message"]
    assert (await post(client, ASK))[0] == 200
    async with client.post("/v1/chat/completions", json={}, headers=KEYED) as resp:
        assert resp.status == 404
    async with client.get("/v1/models", headers=KEYED) as resp:
        listed = await resp.json()
    assert listed["has_more"] is False and listed["data"][0]["type"] == "model"


async def test_a_message_with_thinking_only_when_asked(node):
    client = await node(dialect="anthropic", chunks=2)
    status, _, text = await post(client, ASK)
    plain = Message.model_validate_json(text)
    assert status == 200 and [b.type for b in plain.content] == ["text"]
    assert plain.content[0].text == "Hello from node62. Part 2 of 2."  # type: ignore[union-attr]
    assert plain.usage.input_tokens == 11 // 4 + 1 and plain.usage.output_tokens == 8
    thinking = {"type": "enabled", "budget_tokens": 1024}
    _, _, text = await post(client, {**ASK, "thinking": thinking})
    thought = Message.model_validate_json(text)
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert thought.usage.output_tokens == 8 + 16
    assert thought.usage.output_tokens_details is not None
    assert thought.usage.output_tokens_details.thinking_tokens == 16


async def test_a_stream_is_named_events(node):
    client = await node(dialect="anthropic", chunks=2)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    status, kind, text = await post(client, {**ASK, "stream": True, "thinking": thinking})
    assert status == 200 and kind == "text/event-stream"
    found = events(text)
    assert [e.type for e in found[:3]] == ["message_start", "ping", "content_block_start"]
    deltas = [e.delta.type for e in found if e.type == "content_block_delta"]
    assert deltas == ["thinking_delta"] * 2 + ["signature_delta"] + ["text_delta"] * 2
    assert found[-2].type == "message_delta" and found[-2].usage.output_tokens == 24
    assert found[-1].type == "message_stop"


async def test_count_tokens_and_faults_in_anthropics_shape(node):
    client = await node(dialect="anthropic", faults=Faults(status=529, error_message="busy"))
    status, _, text = await post(client, ASK)
    assert status == 529 and orjson.loads(text)["error"] == {
        "type": "overloaded_error",
        "message": "busy",
    }
    client = await node(dialect="anthropic", faults=Faults(inband_error_after=3))
    _, _, text = await post(client, {**ASK, "stream": True})
    assert text.endswith(
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"in-band fault"}}\n\n'
    )
    async with client.post("/v1/messages/count_tokens", json=ASK, headers=KEYED) as resp:
        counted = MessageTokensCount.model_validate_json(await resp.read())
    assert counted.input_tokens == 11 // 4 + 1


async def test_a_prefilled_turn_is_continued(node):
    client = await node(dialect="anthropic", chunks=3)
    prefill = {"role": "assistant", "content": [{"type": "text", "text": "Hello from node62."}]}
    _, _, text = await post(client, {**ASK, "messages": [*ASK["messages"], prefill]})
    assert Message.model_validate_json(text).content[0].text == " Part 2 of 3. Part 3 of 3."  # type: ignore[union-attr]


# --- scripted tool calls -----------------------------------------------------------------


def test_the_script_is_a_fault_that_validates_and_resets() -> None:
    faults = Faults()
    faults.update({"tool_call": READ})
    assert faults.tool_call == ToolCall("Read", READ["arguments"])
    assert faults.as_dict()["tool_call"] == READ
    with pytest.raises(ValueError, match="tool_call"):
        faults.update({"tool_call": {"arguments": {}}})
    faults.update({"reset": True})
    assert faults.tool_call is None


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_node_calls_the_offered_tool_then_reports_its_result(node, stream):
    client = await node(dialect="anthropic", faults=Faults(tool_call=ToolCall.parse(READ)))
    asked = {**ASK, "tools": TOOLS, "stream": stream}
    _, _, text = await post(client, asked)
    if stream:
        found = events(text)
        opening = next(e for e in found if e.type == "content_block_start")
        call_id = opening.content_block.id
        assert opening.content_block.name == "Read"
        pieces = [e.delta.partial_json for e in found if e.type == "content_block_delta"]
        assert orjson.loads("".join(pieces)) == READ["arguments"]
        assert found[-2].delta.stop_reason == "tool_use"
    else:
        answer = Message.model_validate_json(text)
        assert answer.stop_reason == "tool_use"
        (block,) = answer.content
        assert block.type == "tool_use" and block.input == READ["arguments"]
        call_id = block.id
    turn = {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": call_id, "name": "Read", "input": READ["arguments"]}
        ],
    }
    result = {"type": "tool_result", "tool_use_id": call_id, "content": "the notes say 42"}
    messages = [*ASK["messages"], turn, {"role": "user", "content": [result]}]
    _, _, text = await post(client, {**asked, "stream": False, "messages": messages})
    said = Message.model_validate_json(text)
    assert said.content[0].text == RESULT_PREFIX + "the notes say 42"  # type: ignore[union-attr]
    _, _, text = await post(client, {**ASK, "tools": TOOLS[1:]})  # not offered: the usual
    assert Message.model_validate_json(text).content[0].type == "text"


async def test_an_openai_node_calls_the_tool(node):
    client = await node(faults=Faults(tool_call=ToolCall.parse(READ)))
    tools = [{"type": "function", "function": {"name": "Read", "parameters": {}}}]
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools}
    async with client.post("/v1/chat/completions", json=body) as resp:
        choice = (await resp.json())["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == READ["arguments"]
    async with client.post("/v1/chat/completions", json={**body, "stream": True}) as resp:
        text = await resp.text()
    assert '"finish_reason":"tool_calls"' in text and text.endswith("data: [DONE]\n\n")
    tool = {"role": "tool", "tool_call_id": call["id"], "content": "forty-two"}
    body["messages"] = [*body["messages"], choice["message"], tool]
    async with client.post("/v1/chat/completions", json=body) as resp:
        said = (await resp.json())["choices"][0]["message"]["content"]
    assert said == RESULT_PREFIX + "forty-two"


async def test_a_gemini_node_calls_the_tool(node):
    client = await node(dialect="gemini", faults=Faults(tool_call=ToolCall.parse(READ)))
    tools = [{"functionDeclarations": [{"name": "Read", "parameters": {"type": "OBJECT"}}]}]
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": tools}
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    async with client.post(path, json=body) as resp:
        part = (await resp.json())["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {"name": "Read", "args": READ["arguments"]}
    answer = {"functionResponse": {"name": "Read", "response": {"content": "forty-two"}}}
    body["contents"] += [{"role": "model", "parts": [part]}, {"role": "user", "parts": [answer]}]
    async with client.post(path, json=body) as resp:
        said = (await resp.json())["candidates"][0]["content"]["parts"][0]["text"]
    assert said == RESULT_PREFIX + '{"content":"forty-two"}'
