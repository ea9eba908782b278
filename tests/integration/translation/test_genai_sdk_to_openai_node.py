"""The google-genai SDK (Python; Node when npm is present) through a real router to a
`dialect: openai` mock node (issue 28): generateContent and streamGenerateContent (SSE,
and the JSON array without alt=sse) are translated into OpenAI's chat completions and
every answer back, and the SDK reads it as it reads Google's own. One router and three
mock nodes for the module: `main` and `errors` speak OpenAI only, `other` Gemini only (the
model `mixed` fails over, and continues a cut answer, from one dialect to the other)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from router.mock.openai_apis import embeddings
from tests.support import GEMINI_BODY, MockNodes, Routers, http_request
from tests.support.node_sdk import FETCH_TAP, MOCK_CONTROLS, needs_node_sdks, run_node
from tests.support.sdk_translation import (
    KEY,
    NODE_KEY,
    REASONING_TOKENS,
    WEATHER_TOOL,
    Translating,
    mock_answer,
    node_flags,
    start_translating,
)

pytestmark = pytest.mark.integration

MOCK_NODES = {
    "main": node_flags("openai"),
    "errors": node_flags("openai"),
    "other": node_flags("gemini"),
}
DIALECTS = {"main": "openai", "errors": "openai", "other": "gemini"}
ANSWER = mock_answer("main")
PROMPT = len("hello") // 4 + 1  # the mock node's count
NO_RETRY = types.HttpRetryOptions(attempts=1)
THINKING = types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> Translating:
    ledger = tmp_path_factory.mktemp("gemini-to-openai") / "usage.jsonl"
    return start_translating(routers, mock_nodes, ledger, DIALECTS)


@pytest.fixture
def client(setup: Translating, fresh_nodes: MockNodes) -> Any:
    options = types.HttpOptions(
        base_url=setup.url, api_version="v1beta", timeout=30_000, retry_options=NO_RETRY
    )
    with genai.Client(api_key=KEY, http_options=options) as sdk_client:
        yield sdk_client


def traced(request_id: str, **config: Any) -> types.GenerateContentConfig:
    """A request's config that names it (X-Request-ID), for its ledger record."""
    headers = types.HttpOptions(headers={"X-Request-ID": request_id})
    return types.GenerateContentConfig(http_options=headers, **config)


def texts(parts: list[types.Part] | None, *, thought: bool) -> str:
    return "".join(p.text or "" for p in parts or [] if bool(p.thought) is thought)


async def test_a_plain_answer_with_thoughts_usage_and_billing(
    setup: Translating, client: genai.Client
) -> None:
    request_id = "tr-" + secrets.token_hex(8)
    answer = client.models.generate_content(
        model="one", contents="hello", config=traced(request_id, thinking_config=THINKING)
    )
    seen = setup.node("main").last_request()
    assert seen is not None and seen["path"] == "/v1/chat/completions"
    assert seen["headers"].get("Authorization") == f"Bearer {NODE_KEY}"
    assert "x-goog-api-key" not in {k.lower() for k in seen["headers"]}
    assert seen["body"]["messages"] == [{"role": "user", "content": "hello"}]
    (candidate,) = answer.candidates or []
    assert candidate.content is not None
    assert texts(candidate.content.parts, thought=False) == ANSWER.content
    assert texts(candidate.content.parts, thought=True) == ANSWER.reasoning  # Gemini's own
    assert candidate.finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None and usage.prompt_token_count == PROMPT
    assert usage.candidates_token_count == ANSWER.content_tokens
    assert usage.thoughts_token_count == REASONING_TOKENS
    await setup.charged(request_id, PROMPT, ANSWER.content_tokens, REASONING_TOKENS)


async def test_a_stream_event_by_event_and_its_usage_billed(
    setup: Translating, client: genai.Client
) -> None:
    request_id = "tr-" + secrets.token_hex(8)
    chunks = list(
        client.models.generate_content_stream(
            model="one", contents="hello", config=traced(request_id, thinking_config=THINKING)
        )
    )
    seen = setup.node("main").last_request()
    assert seen is not None and seen["body"]["stream"] is True
    parts = [p for c in chunks for p in (c.candidates or [])[0].content.parts or []]  # type: ignore[union-attr]
    assert texts(parts, thought=False) == ANSWER.content
    assert texts(parts, thought=True) == ANSWER.reasoning
    assert len(chunks) > 2  # event by event, not one answer at the end
    last = chunks[-1]
    assert (last.candidates or [])[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.thoughts_token_count == REASONING_TOKENS
    await setup.charged(request_id, PROMPT, ANSWER.content_tokens, REASONING_TOKENS)


def test_a_json_array_stream_without_alt_sse(setup: Translating, client: genai.Client) -> None:
    body = json.dumps(GEMINI_BODY).encode()
    headers = {"x-goog-api-key": KEY, "Content-Type": "application/json"}
    url = f"{setup.url}/v1beta/models/one:streamGenerateContent"
    status, _, raw = http_request("POST", url, body, headers, timeout=20)
    assert status == 200
    array = json.loads(raw)
    assert isinstance(array, list) and len(array) > 1
    parts = [p for c in array for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p["text"] for p in parts if not p.get("thought")) == ANSWER.content
    assert array[-1]["candidates"][0]["finishReason"] == "STOP"
    assert array[-1]["usageMetadata"]["thoughtsTokenCount"] == REASONING_TOKENS


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_round_trip(
    setup: Translating, client: genai.Client, fresh_nodes: MockNodes, stream: bool
) -> None:
    fresh_nodes["main"].faults(tool_call=WEATHER_TOOL)
    asked = types.Content(role="user", parts=[types.Part(text="The weather in Paris?")])
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if stream:
        chunks = list(
            client.models.generate_content_stream(model="one", contents=[asked], config=config)
        )
        calls = [call for c in chunks for call in c.function_calls or []]
        turn = (chunks[-1].candidates or [])[0]
        parts = [p for c in chunks for p in (c.candidates or [])[0].content.parts or []]  # type: ignore[union-attr]
        model_turn = types.Content(role="model", parts=parts)
    else:
        answer = client.models.generate_content(model="one", contents=[asked], config=config)
        calls = answer.function_calls or []
        turn = (answer.candidates or [])[0]
        assert turn.content is not None
        model_turn = turn.content
    (call,) = calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    assert turn.finish_reason == types.FinishReason.STOP  # Gemini's word for a call too
    sent = setup.sent("main")
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    result = types.Part.from_function_response(name="get_weather", response={"sky": "sunny"})
    final = client.models.generate_content(
        model="one",
        contents=[asked, model_turn, types.Content(role="user", parts=[result])],
        config=config,
    )
    assert final.text == 'Tool result: {"sky":"sunny"}'
    messages = setup.sent("main")["messages"]
    (tool_call,) = messages[-2]["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Paris"}
    assert messages[-1]["role"] == "tool" and messages[-1]["tool_call_id"] == tool_call["id"]


def test_an_image_goes_as_a_data_url(setup: Translating, client: genai.Client) -> None:
    image = types.Part.from_bytes(data=PIXEL, mime_type="image/png")
    answer = client.models.generate_content(model="one", contents=["What is this?", image])
    assert answer.text == ANSWER.content
    content = setup.sent("main")["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    assert urls == [f"data:image/png;base64,{base64.b64encode(PIXEL).decode()}"]


def test_json_mode(setup: Translating, client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json")
    answer = client.models.generate_content(model="one", contents="hello", config=config)
    assert json.loads(answer.text or "") == {"answer": ANSWER.content}
    assert setup.sent("main")["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("openai_reason", "expected"),
    [
        ("stop", types.FinishReason.STOP),
        ("length", types.FinishReason.MAX_TOKENS),
        ("content_filter", types.FinishReason.SAFETY),
    ],
)
def test_finish_reasons(
    client: genai.Client, fresh_nodes: MockNodes, openai_reason: str, expected: Any
) -> None:
    fresh_nodes["main"].faults(finish_reason=openai_reason)
    answer = client.models.generate_content(model="one", contents="hello")
    assert (answer.candidates or [])[0].finish_reason == expected
    chunks = list(client.models.generate_content_stream(model="one", contents="hello"))
    assert (chunks[-1].candidates or [])[0].finish_reason == expected


@pytest.mark.parametrize(
    ("status", "error", "google_status"),
    [
        (400, genai_errors.ClientError, "INVALID_ARGUMENT"),
        (409, genai_errors.ClientError, "ABORTED"),
        (429, genai_errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, genai_errors.ServerError, None),
        (503, genai_errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_a_nodes_error_of_each_status(
    client: genai.Client,
    fresh_nodes: MockNodes,
    status: int,
    error: type[genai_errors.APIError],
    google_status: str | None,
) -> None:
    fresh_nodes["errors"].faults(status=status, error_message="the node says no")
    with pytest.raises(error) as raised:
        client.models.generate_content(model="errors", contents="hello")
    assert raised.value.code == status or (status >= 500 and raised.value.code >= 500)
    if google_status is not None:
        assert raised.value.status == google_status


def test_keepalives_in_a_slow_translated_stream(
    setup: Translating, client: genai.Client, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(chunk_delay=1.3)
    chunks = list(client.models.generate_content_stream(model="one", contents="hello"))
    assert "".join(c.text or "" for c in chunks) == ANSWER.content
    body = json.dumps(GEMINI_BODY).encode()
    headers = {"x-goog-api-key": KEY, "Content-Type": "application/json"}
    url = f"{setup.url}/v1beta/models/one:streamGenerateContent?alt=sse"
    status, _, raw = http_request("POST", url, body, headers, timeout=20)
    assert status == 200
    assert b"\r\n\r\n\n" in raw and b"keep-alive" not in raw  # Gemini's blank lines


@pytest.mark.parametrize("fault", ["cut_after", "inband_error_after"])
def test_a_midstream_failure_raises(
    client: genai.Client, fresh_nodes: MockNodes, fault: str
) -> None:
    fresh_nodes["main"].faults(**{fault: 4})  # the role chunk, two thoughts, a part
    seen = ""
    with pytest.raises(genai_errors.APIError):
        for chunk in client.models.generate_content_stream(model="one", contents="hello"):
            seen += chunk.text or ""
    assert seen and ANSWER.content.startswith(seen) and seen != ANSWER.content


def test_failover_before_the_first_byte_to_a_node_of_the_other_dialect(
    client: genai.Client, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(status=503)
    answer = client.models.generate_content(model="mixed", contents="hello")
    assert answer.text == mock_answer("other").content
    assert fresh_nodes["main"].requests() == 1 and fresh_nodes["other"].requests() == 1


def test_a_cut_answer_continues_at_a_node_of_the_other_dialect(
    client: genai.Client, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(cut_after=5)  # the role chunk, two thoughts, two parts
    chunks = list(client.models.generate_content_stream(model="mixed", contents="hello"))
    text = "".join(c.text or "" for c in chunks)
    assert text.startswith("Hello from main.") and text.endswith(" Part 3 of 3."), text
    continued = fresh_nodes["other"].last_request()
    assert continued is not None and continued["path"].endswith(":streamGenerateContent")
    assert continued["body"]["contents"][-1]["role"] == "model"  # the prefill, Gemini's way


def test_a_token_count_is_the_routers_estimate(setup: Translating, client: genai.Client) -> None:
    counted = client.models.count_tokens(model="one", contents="hello")
    assert counted.total_tokens is not None and counted.total_tokens > 0
    assert setup.node("main").requests() == 0  # an OpenAI node counts nothing: not asked


NODE_GENAI = """
import {GoogleGenAI} from "@google/genai";
const ai = new GoogleGenAI({apiKey: process.env.KEY,
  httpOptions: {baseUrl: process.env.ROUTER_URL, apiVersion: "v1beta", timeout: 30000}});
const thinking = {thinkingConfig: {includeThoughts: true, thinkingBudget: 1024}};
const plain = await ai.models.generateContent({model: "one", contents: "hello", config: thinking});
const parts = plain.candidates[0].content.parts;
let streamed = "";
let last = null;
for await (const chunk of await ai.models.generateContentStream(
    {model: "one", contents: "hello"})) { streamed += chunk.text ?? ""; last = chunk; }
const tools = [{functionDeclarations: [{name: "get_weather",
  parameters: {type: "OBJECT", properties: {city: {type: "STRING"}}}}]}];
const asked = {role: "user", parts: [{text: "The weather in Paris?"}]};
const calling = await ai.models.generateContent({model: "one", contents: [asked],
  config: {tools}});
const call = calling.functionCalls[0];
const final = await ai.models.generateContent({model: "one", config: {tools}, contents: [asked,
  calling.candidates[0].content,
  {role: "user", parts: [{functionResponse: {name: call.name, response: {sky: "sunny"}}}]}]});
let outcome = "no error";
try {
  for await (const chunk of await ai.models.generateContentStream(
      {model: "errors", contents: "hello"})) { void chunk; }
} catch (e) { outcome = e.name; }
console.log(JSON.stringify({
  text: parts.filter(p => !p.thought).map(p => p.text).join(""),
  thoughts: parts.filter(p => p.thought).map(p => p.text).join(""),
  thoughts_tokens: plain.usageMetadata.thoughtsTokenCount,
  streamed,
  finish: last.candidates[0].finishReason,
  call: [call.name, call.args],
  final: final.text,
  outcome,
}));
"""


def test_the_node_genai_sdk(setup: Translating, fresh_nodes: MockNodes) -> None:
    """The Node SDK (when npm installed it): thoughts, a stream with its finish reason,
    a tool round trip, and a failure mid-stream, which it raises."""
    needs_node_sdks()
    fresh_nodes["main"].faults(tool_call=WEATHER_TOOL)
    fresh_nodes["errors"].faults(cut_after=4)
    result = run_node(NODE_GENAI, {"ROUTER_URL": setup.url, "KEY": KEY})
    assert result["text"] == ANSWER.content and result["thoughts"] == ANSWER.reasoning
    assert result["thoughts_tokens"] == REASONING_TOKENS
    assert result["streamed"] == ANSWER.content and result["finish"] == "STOP"
    assert result["call"] == ["get_weather", {"city": "Paris"}]
    assert result["final"] == 'Tool result: {"sky":"sunny"}'
    assert result["outcome"] in ("ApiError", "Error"), result  # as for a relayed cut stream


def test_embed_content_goes_as_openai_embeddings(setup: Translating, client: genai.Client) -> None:
    answer = client.models.embed_content(model="one", contents=["a", "bb"])
    sent = setup.sent("main")
    assert sent["input"] == ["a", "bb"]
    relayed = embeddings({"input": ["a", "bb"]})["data"]
    assert [e.values for e in answer.embeddings or []] == [row["embedding"] for row in relayed]


NODE_CLIENT = """
import {GoogleGenAI} from "@google/genai";
const ai = new GoogleGenAI({apiKey: process.env.KEY,
  httpOptions: {baseUrl: process.env.ROUTER_URL, apiVersion: "v1beta", timeout: 30000}});
async function streamed(request) {
  let text = "", finish = null;
  for await (const chunk of await ai.models.generateContentStream(request)) {
    text += chunk.text ?? "";
    finish = chunk.candidates?.[0]?.finishReason ?? finish;
  }
  return [text, finish];
}
"""


def _node_script(body: str) -> str:
    """NODE_CLIENT and the mock nodes' controls before `body`: one module, as `node -e`
    takes."""
    return NODE_CLIENT + MOCK_CONTROLS + FETCH_TAP + body


def _node_env(setup: Translating, nodes: MockNodes, **extra: object) -> dict[str, str]:
    return {
        "ROUTER_URL": setup.url,
        "KEY": KEY,
        "MAIN": nodes["main"].url,
        "ERRORS": nodes["errors"].url,
        **{name: json.dumps(value) for name, value in extra.items()},
    }


NODE_GENAI_SHAPES = """
const pixel = Buffer.from(JSON.parse(process.env.PIXEL), "hex").toString("base64");
const image = await ai.models.generateContent({model: "one", contents: [{role: "user",
  parts: [{text: "What is this?"}, {inlineData: {mimeType: "image/png", data: pixel}}]}]});
const imageContent = (await sent("MAIN")).messages[0].content;
const json = await ai.models.generateContent({model: "one", contents: "hello",
  config: {responseMimeType: "application/json"}});
const jsonFormat = (await sent("MAIN")).response_format;
const tools = [{functionDeclarations: [{name: "get_weather",
  parameters: {type: "OBJECT", properties: {city: {type: "STRING"}}}}]}];
const asked = {role: "user", parts: [{text: "The weather in Paris?"}]};
await faults("MAIN", {tool_call: JSON.parse(process.env.WEATHER_TOOL)});
const streamedParts = [];
for await (const chunk of await ai.models.generateContentStream(
    {model: "one", contents: [asked], config: {tools}})) {
  streamedParts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
}
const called = streamedParts.filter((p) => p.functionCall).map((p) => p.functionCall);
const toolFinal = await ai.models.generateContent({model: "one", config: {tools}, contents: [
  asked, {role: "model", parts: streamedParts}, {role: "user", parts: [{functionResponse:
    {name: called[0].name, response: {sky: "sunny"}}}]}]});
const toolMessages = (await sent("MAIN")).messages;
const [toolCalls, toolResult] = [toolMessages.at(-2).tool_calls, toolMessages.at(-1)];
const finishes = {};
for (const reason of JSON.parse(process.env.FINISH_REASONS)) {
  await faults("MAIN", {finish_reason: reason});
  const plain = await ai.models.generateContent({model: "one", contents: "hello"});
  finishes[reason] = [plain.candidates[0].finishReason,
    (await streamed({model: "one", contents: "hello"}))[1]];
}
console.log(JSON.stringify({
  image: [image.text, imageContent],
  json: [JSON.parse(json.text), jsonFormat],
  streamedTool: [called.map((c) => [c.name, c.args]), toolFinal.text,
    toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
    toolResult.role, toolResult.tool_call_id === toolCalls[0].id],
  finishes,
}));
"""

NODE_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def test_the_node_genai_sdk_image_json_mode_and_finish_reasons(
    setup: Translating, fresh_nodes: MockNodes
) -> None:
    """The Node SDK: an image goes as a data URL, JSON mode as response_format, a streamed
    function call round trip, and each OpenAI finish reason reaches it as Gemini's,
    answered and streamed."""
    needs_node_sdks()
    reasons = list(NODE_FINISH_REASONS)
    env = _node_env(
        setup, fresh_nodes, PIXEL=PIXEL.hex(), FINISH_REASONS=reasons, WEATHER_TOOL=WEATHER_TOOL
    )
    result = run_node(_node_script(NODE_GENAI_SHAPES), env)
    text, content = result["image"]
    assert text == ANSWER.content
    assert content == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{base64.b64encode(PIXEL).decode()}"},
        },
    ]
    assert result["json"] == [{"answer": ANSWER.content}, {"type": "json_object"}]
    # A streamed function call, sent back with its result as OpenAI's tool turn.
    paris = ["get_weather", {"city": "Paris"}]
    assert result["streamedTool"] == [
        [paris],
        'Tool result: {"sky":"sunny"}',
        [paris],
        "tool",
        True,
    ]
    expected = {reason: [gemini] * 2 for reason, gemini in NODE_FINISH_REASONS.items()}
    assert result["finishes"] == expected


NODE_GENAI_ERRORS = """
const errors = {};
for (const status of JSON.parse(process.env.STATUSES)) {
  await faults("ERRORS", {status, error_message: "the node says no"});
  try {
    await ai.models.generateContent({model: "errors", contents: "hello"});
    errors[status] = "no error";
  } catch (e) { errors[status] = [e.name, e.status, e.message]; }
}
await faults("MAIN", {chunk_delay: 1.3});
globalThis.fetch = tappedFetch;  // the SDK fetches with the global fetch
const slow = await streamed({model: "one", contents: "hello"});
globalThis.fetch = realFetch;
const raw = await taps.at(-1).text();
await faults("MAIN", {inband_error_after: 4});
let partial = "", raised = "no error";
try {
  for await (const chunk of await ai.models.generateContentStream(
    {model: "one", contents: "hello"})) partial += chunk.text ?? "";
} catch (e) { raised = e.constructor.name; }
const inband = [partial, raised];
console.log(JSON.stringify({inband, errors, slow,
  keepalive: raw.includes("\\r\\n\\r\\n\\n") && !raw.includes("keep-alive")}));
"""

# The status Google's error body names for each status, where the router sets one.
NODE_ERRORS = {
    "400": "INVALID_ARGUMENT",
    "409": "ABORTED",
    "429": "RESOURCE_EXHAUSTED",
    "500": None,
    "503": "UNAVAILABLE",
}


def test_the_node_genai_sdk_errors_and_keepalives(
    setup: Translating, fresh_nodes: MockNodes
) -> None:
    """The Node SDK: a node's error of each status as its ApiError with the status (and
    Google's status name in the message), an in-band error mid-stream, which it raises,
    and a slow stream kept alive with Gemini's blank
    lines (in the bytes the SDK read), which the SDK skips."""
    needs_node_sdks()
    statuses = [int(s) for s in NODE_ERRORS]
    env = _node_env(setup, fresh_nodes, STATUSES=statuses)
    result = run_node(_node_script(NODE_GENAI_ERRORS), env)
    errors = result["errors"]
    for status, google_status in NODE_ERRORS.items():
        name, seen_status, message = errors[status]
        assert name == "ApiError", errors[status]
        assert seen_status == int(status) or (int(status) >= 500 and seen_status >= 500)
        assert google_status is None or google_status in message, errors[status]
    assert result["slow"] == [ANSWER.content, "STOP"]
    assert result["keepalive"] is True
    partial, raised = result["inband"]  # a failure mid-stream, sent in band: raised
    assert raised in ("ApiError", "Error") and partial and ANSWER.content.startswith(partial)
    assert partial != ANSWER.content
