"""The openai SDK (Python; Node when npm is present) through a real router to a `dialect:
gemini` mock node (issue 28): every request is translated into Gemini's generateContent /
streamGenerateContent and every answer back, and the SDK reads it as it reads OpenAI's
own. One router and three mock nodes for the module: `main` and `errors` speak Gemini
only, `other` OpenAI only (the model `mixed` fails over, and continues a cut answer, from
one dialect to the other)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import openai
import pytest

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
    "main": node_flags("gemini"),
    "errors": node_flags("gemini"),
    "other": node_flags("openai"),
}
DIALECTS = {"main": "gemini", "errors": "gemini", "other": "openai"}
ANSWER = mock_answer("main")
HELLO: Any = [{"role": "user", "content": "hello"}]
PROMPT = len("hello") // 4 + 1  # the mock node's count
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> Translating:
    ledger = tmp_path_factory.mktemp("openai-to-gemini") / "usage.jsonl"
    return start_translating(routers, mock_nodes, ledger, DIALECTS)


@pytest.fixture
def client(setup: Translating, fresh_nodes: MockNodes) -> Any:
    with openai.OpenAI(
        base_url=f"{setup.url}/v1", api_key=KEY, max_retries=0, timeout=30
    ) as sdk_client:
        yield sdk_client


def rid() -> str:
    return "tr-" + secrets.token_hex(8)


async def test_a_plain_answer_with_reasoning_usage_and_billing(
    setup: Translating, client: openai.OpenAI
) -> None:
    request_id = rid()
    answer = client.chat.completions.create(
        model="one",
        messages=HELLO,
        reasoning_effort="low",
        extra_body={"include_thoughts": True},
        extra_headers={"X-Request-ID": request_id},
    )
    seen = setup.node("main").last_request()
    assert seen is not None
    assert seen["path"] == "/v1beta/models/one:generateContent"
    assert (
        seen["headers"].get("x-goog-api-key") == NODE_KEY and "Authorization" not in seen["headers"]
    )
    thinking = seen["body"]["generationConfig"]["thinkingConfig"]
    assert thinking["includeThoughts"] is True
    message = answer.choices[0].message
    assert message.content == ANSWER.content
    assert (message.model_extra or {})["reasoning_content"] == ANSWER.reasoning  # seeds' field
    assert answer.choices[0].finish_reason == "stop"
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens == PROMPT
    assert usage.completion_tokens == ANSWER.content_tokens + REASONING_TOKENS
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    await setup.charged(request_id, PROMPT, ANSWER.content_tokens, REASONING_TOKENS)


@pytest.mark.parametrize("include_usage", [True, False])
async def test_a_stream_event_by_event_and_its_usage_billed(
    setup: Translating, client: openai.OpenAI, include_usage: bool
) -> None:
    request_id = rid()
    stream = client.chat.completions.create(
        model="one",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True} if include_usage else openai.NOT_GIVEN,
        extra_body={"include_thoughts": True},
        extra_headers={"X-Request-ID": request_id},
    )
    chunks = list(stream)
    seen = setup.node("main").last_request()
    assert seen is not None and seen["path"] == "/v1beta/models/one:streamGenerateContent"
    assert seen["query"] == {"alt": "sse"}
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == ANSWER.content
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == ANSWER.reasoning
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == int(include_usage)  # the usage chunk only when asked for
    if include_usage:
        details = usages[0].completion_tokens_details
        assert details is not None and details.reasoning_tokens == REASONING_TOKENS
    await setup.charged(request_id, PROMPT, ANSWER.content_tokens, REASONING_TOKENS)


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_round_trip(
    setup: Translating, client: openai.OpenAI, fresh_nodes: MockNodes, stream: bool
) -> None:
    fresh_nodes["main"].faults(tool_call=WEATHER_TOOL)
    asked: Any = [{"role": "user", "content": "The weather in Paris?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(model="one", messages=asked, tools=TOOLS, stream=True)
        )
        calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        call_id = calls[0].id
        arguments = "".join((t.function.arguments or "") for t in calls if t.function)
        name = calls[0].function.name if calls[0].function else None
        extra = calls[0].model_extra
    else:
        answer = client.chat.completions.create(model="one", messages=asked, tools=TOOLS)
        (call,) = answer.choices[0].message.tool_calls or []
        finish, call_id = answer.choices[0].finish_reason, call.id
        name, arguments, extra = call.function.name, call.function.arguments, call.model_extra
    assert finish == "tool_calls"
    assert (name, json.loads(arguments)) == ("get_weather", {"city": "Paris"})
    sent = setup.sent("main")
    declared = sent["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "get_weather"
    # Gemini's thought signature rides on the call, as Google's own endpoint carries it.
    signature = (extra or {})["extra_content"]["google"]["thought_signature"]
    assert signature
    turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
                "extra_content": {"google": {"thought_signature": signature}},
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"}
    final = client.chat.completions.create(
        model="one", messages=[*asked, turn, result], tools=TOOLS
    )
    # A tool's text result is an object for Gemini: {"content": ...}, the mock quotes it.
    assert final.choices[0].message.content == 'Tool result: {"content":"sunny, 21 C"}'
    assert final.choices[0].finish_reason == "stop"
    contents = setup.sent("main")["contents"]
    calling, answering = contents[-2]["parts"][0], contents[-1]["parts"][0]
    assert calling["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert calling["thoughtSignature"] == signature  # carried across the turn
    assert answering["functionResponse"]["name"] == "get_weather"  # found from the call id


def test_an_image_goes_as_inline_data(setup: Translating, client: openai.OpenAI) -> None:
    content: Any = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    answer = client.chat.completions.create(
        model="one", messages=[{"role": "user", "content": content}]
    )
    assert answer.choices[0].message.content == ANSWER.content
    parts = setup.sent("main")["contents"][0]["parts"]
    assert parts[0] == {"text": "What is this?"}
    assert parts[1]["inlineData"] == {"mimeType": "image/png", "data": PIXEL}


def test_json_mode(setup: Translating, client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="one", messages=HELLO, response_format={"type": "json_object"}
    )
    assert json.loads(answer.choices[0].message.content or "") == {"answer": ANSWER.content}
    assert setup.sent("main")["generationConfig"]["responseMimeType"] == "application/json"


@pytest.mark.parametrize(
    ("gemini", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
    ],
)
def test_finish_reasons(
    client: openai.OpenAI, fresh_nodes: MockNodes, gemini: str, expected: str
) -> None:
    fresh_nodes["main"].faults(finish_reason=gemini)
    answer = client.chat.completions.create(model="one", messages=HELLO)
    assert answer.choices[0].finish_reason == expected
    chunks = list(client.chat.completions.create(model="one", messages=HELLO, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == expected


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_a_nodes_error_of_each_status(
    client: openai.OpenAI, fresh_nodes: MockNodes, status: int, error: type[Exception]
) -> None:
    fresh_nodes["errors"].faults(status=status, error_message="the node says no")
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="errors", messages=HELLO)
    assert isinstance(raised.value, openai.APIStatusError)
    body = raised.value.body
    assert isinstance(body, dict) and isinstance(body.get("message"), str), body


@pytest.mark.parametrize(
    ("model", "key", "error"),
    [
        ("one", "sk-wrong", openai.AuthenticationError),
        ("no-such-model", KEY, openai.NotFoundError),
    ],
    ids=["wrong-key", "unknown-model"],  # the key is random: no value of it in an id
)
def test_the_routers_own_errors(
    setup: Translating, model: str, key: str, error: type[Exception]
) -> None:
    sdk_client = openai.OpenAI(base_url=f"{setup.url}/v1", api_key=key, max_retries=0)
    with sdk_client, pytest.raises(error):
        sdk_client.chat.completions.create(model=model, messages=HELLO)


def test_keepalives_in_a_slow_translated_stream(
    setup: Translating, client: openai.OpenAI, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(chunk_delay=1.3)
    chunks = list(client.chat.completions.create(model="one", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        ANSWER.content
    )
    body = json.dumps({"model": "one", "messages": HELLO, "stream": True}).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, _, raw = http_request(
        "POST", f"{setup.url}/v1/chat/completions", body, headers, timeout=20
    )
    assert status == 200 and b"\n: keep-alive\n\n" in raw  # OpenAI's, not Gemini's


@pytest.mark.parametrize("fault", ["cut_after", "inband_error_after"])
def test_a_midstream_failure_raises(
    client: openai.OpenAI, fresh_nodes: MockNodes, fault: str
) -> None:
    fresh_nodes["main"].faults(**{fault: 2})
    seen = ""
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="one", messages=HELLO, stream=True):
            seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert seen and ANSWER.content.startswith(seen) and seen != ANSWER.content


def test_failover_before_the_first_byte_to_a_node_of_the_other_dialect(
    client: openai.OpenAI, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(status=503)
    answer = client.chat.completions.create(model="mixed", messages=HELLO)
    assert answer.choices[0].message.content == mock_answer("other").content
    assert fresh_nodes["main"].requests() == 1 and fresh_nodes["other"].requests() == 1


def test_a_cut_answer_continues_at_a_node_of_the_other_dialect(
    setup: Translating, client: openai.OpenAI, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(cut_after=2)
    chunks = list(client.chat.completions.create(model="mixed", messages=HELLO, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The mock nodes continue each other's answers part by part (router.mock.answers).
    assert text.startswith("Hello from main.") and text.endswith(" Part 3 of 3.")
    continued = fresh_nodes["other"].last_request()
    assert continued is not None and continued["path"] == "/v1/chat/completions"
    assert continued["body"]["messages"][-1]["role"] == "assistant"  # the prefill, OpenAI's way


def test_a_gemini_client_still_goes_byte_for_byte(
    setup: Translating, fresh_nodes: MockNodes
) -> None:
    """A node that speaks the client's dialect is relayed as it was (no translation)."""
    body = json.dumps(GEMINI_BODY).encode()
    headers = {"x-goog-api-key": KEY, "Content-Type": "application/json"}
    url = f"{setup.url}/v1beta/models/one:generateContent"
    status, _, _ = http_request("POST", url, body, headers, timeout=20)
    assert status == 200
    seen = setup.node("main").last_request()
    assert seen is not None and seen["body_len"] == len(body)


def test_a_field_gemini_cannot_say_is_a_400_naming_it(
    setup: Translating, client: openai.OpenAI
) -> None:
    asked = setup.node("main").requests()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="one", messages=HELLO, logprobs=True)
    assert "'logprobs'" in str(refused.value.body)
    assert setup.node("main").requests() == asked  # never sent


async def test_a_stopped_translated_stream_is_charged_what_was_delivered(
    setup: Translating, client: openai.OpenAI, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["main"].faults(chunk_delay=0.3)
    request_id = rid()
    stream = client.chat.completions.create(
        model="one", messages=HELLO, stream=True, extra_headers={"X-Request-ID": request_id}
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break  # Stop, at the first words
    stream.close()
    record = await setup.ledger.settled(request_id)
    assert (record["outcome"], record["settled_by"]) == ("disconnected", "delivered"), record
    assert 0 < record["completion_tokens"] < ANSWER.content_tokens, record


NODE_OPENAI = """
import OpenAI from "openai";
const client = new OpenAI({apiKey: process.env.KEY, baseURL: process.env.ROUTER_URL + "/v1",
  maxRetries: 0});
const hello = [{role: "user", content: "hello"}];
const plain = await client.chat.completions.create({model: "one", messages: hello,
  reasoning_effort: "low", include_thoughts: true});
let streamed = "";
for await (const chunk of await client.chat.completions.create(
    {model: "one", messages: hello, stream: true})) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
}
const tools = [{type: "function", function: {name: "get_weather",
  parameters: {type: "object", properties: {city: {type: "string"}}}}}];
const asked = [{role: "user", content: "The weather in Paris?"}];
const calling = await client.chat.completions.create({model: "one", messages: asked, tools});
const call = calling.choices[0].message.tool_calls[0];
const final = await client.chat.completions.create({model: "one", tools, messages: [...asked,
  calling.choices[0].message, {role: "tool", tool_call_id: call.id, content: "sunny"}]});
let outcome = "no error";
try {
  for await (const chunk of await client.chat.completions.create(
      {model: "errors", messages: hello, stream: true})) { void chunk; }
} catch (e) { outcome = e.constructor.name; }
console.log(JSON.stringify({
  content: plain.choices[0].message.content,
  reasoning: plain.choices[0].message.reasoning_content,
  reasoning_tokens: plain.usage.completion_tokens_details.reasoning_tokens,
  streamed,
  call: [call.function.name, JSON.parse(call.function.arguments), calling.choices[0].finish_reason],
  final: final.choices[0].message.content,
  outcome,
}));
"""


def test_the_node_openai_sdk(setup: Translating, fresh_nodes: MockNodes) -> None:
    """The Node SDK (when npm installed it): an answer with reasoning, a stream, a tool
    round trip (the assistant turn sent back as the SDK returned it, signature and all),
    and a failure mid-stream, which it raises."""
    needs_node_sdks()
    fresh_nodes["main"].faults(tool_call=WEATHER_TOOL)
    fresh_nodes["errors"].faults(cut_after=2)
    result = run_node(NODE_OPENAI, {"ROUTER_URL": setup.url, "KEY": KEY})
    assert result["content"] == ANSWER.content and result["reasoning"] == ANSWER.reasoning
    assert result["reasoning_tokens"] == REASONING_TOKENS
    assert result["streamed"] == ANSWER.content
    assert result["call"] == ["get_weather", {"city": "Paris"}, "tool_calls"]
    assert result["final"] == 'Tool result: {"content":"sunny"}'
    assert result["outcome"] == "APIError"


def test_embeddings_go_as_batch_embed_contents(setup: Translating, client: openai.OpenAI) -> None:
    answer = client.embeddings.create(model="one", input=["a", "bb"])
    seen = setup.node("main").last_request()
    assert seen is not None and seen["path"] == "/v1beta/models/one:batchEmbedContents"
    texts = [r["content"]["parts"][0]["text"] for r in seen["body"]["requests"]]
    assert texts == ["a", "bb"]
    # The mock node gives the same vectors for the same texts in either dialect; the SDK
    # asks for base64, which the router packs as float32.
    relayed = embeddings({"input": ["a", "bb"]})["data"]
    for row, expected in zip(answer.data, relayed, strict=True):
        assert row.embedding == pytest.approx(expected["embedding"], rel=1e-6)
    assert seen["body"]["requests"][0]["model"] == "models/one"


NODE_CLIENT = """
import OpenAI from "openai";
const client = new OpenAI({apiKey: process.env.KEY,
  baseURL: process.env.ROUTER_URL + "/v1", maxRetries: 0});
const hello = [{role: "user", content: "hello"}];
async function streamed(request, c = client) {
  let text = "", finish = null;
  for await (const chunk of await c.chat.completions.create({...request, stream: true})) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return [text, finish];
}
"""


def _node_env(setup: Translating, nodes: MockNodes) -> dict[str, str]:
    return {
        "ROUTER_URL": setup.url,
        "KEY": KEY,
        "MAIN": nodes["main"].url,
        "ERRORS": nodes["errors"].url,
        "PIXEL": PIXEL,
    }


def _node_script(body: str) -> str:
    """NODE_CLIENT before `body`: one module, as `node -e` takes."""
    return NODE_CLIENT + MOCK_CONTROLS + FETCH_TAP + body


NODE_OPENAI_SHAPES = """
const image = await client.chat.completions.create({model: "one", messages: [{role: "user",
  content: [{type: "text", text: "What is this?"},
    {type: "image_url", image_url: {url: `data:image/png;base64,${process.env.PIXEL}`}}]}]});
const imageParts = (await sent("MAIN")).contents[0].parts;
const json = await client.chat.completions.create({model: "one", messages: hello,
  response_format: {type: "json_object"}});
const jsonConfig = (await sent("MAIN")).generationConfig;
const tools = [{type: "function", function: {name: "get_weather",
  parameters: {type: "object", properties: {city: {type: "string"}}}}}];
const asked = [{role: "user", content: "The weather in Paris?"}];
await faults("MAIN", {tool_call: JSON.parse(process.env.WEATHER_TOOL)});
const calls = [];
let callFinish = null;
for await (const chunk of await client.chat.completions.create(
    {model: "one", messages: asked, tools, stream: true})) {
  const choice = chunk.choices[0];
  callFinish = choice?.finish_reason ?? callFinish;
  for (const d of choice?.delta?.tool_calls ?? []) {
    calls[d.index] ??= {id: d.id, type: "function", extra_content: d.extra_content,
      function: {name: d.function?.name, arguments: ""}};
    calls[d.index].function.arguments += d.function?.arguments ?? "";
  }
}
const toolFinal = await client.chat.completions.create({model: "one", tools, messages: [...asked,
  {role: "assistant", content: null, tool_calls: calls},
  {role: "tool", tool_call_id: calls[0].id, content: "sunny"}]});
const calledBack = (await sent("MAIN")).contents.at(-2).parts[0];
const finishes = {};
for (const reason of JSON.parse(process.env.FINISH_REASONS)) {
  await faults("MAIN", {finish_reason: reason});
  const plain = await client.chat.completions.create({model: "one", messages: hello});
  finishes[reason] = [plain.choices[0].finish_reason,
    (await streamed({model: "one", messages: hello}))[1]];
}
console.log(JSON.stringify({
  image: [image.choices[0].message.content, imageParts],
  json: [JSON.parse(json.choices[0].message.content), jsonConfig.responseMimeType],
  streamedTool: [calls.length, calls[0].function.name, JSON.parse(calls[0].function.arguments),
    callFinish, toolFinal.choices[0].message.content, calledBack.functionCall,
    Boolean(calledBack.thoughtSignature) &&
      calledBack.thoughtSignature === calls[0].extra_content?.google?.thought_signature],
  finishes,
}));
"""

NODE_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
}


def test_the_node_openai_sdk_image_json_mode_and_finish_reasons(
    setup: Translating, fresh_nodes: MockNodes
) -> None:
    """The Node SDK: an image goes as inlineData, JSON mode as responseMimeType, a streamed
    tool call round trip, and each Gemini finish reason reaches it as OpenAI's, answered
    and streamed."""
    needs_node_sdks()
    env = {
        **_node_env(setup, fresh_nodes),
        "FINISH_REASONS": json.dumps(list(NODE_FINISH_REASONS)),
        "WEATHER_TOOL": json.dumps(WEATHER_TOOL),
    }
    result = run_node(_node_script(NODE_OPENAI_SHAPES), env)
    content, parts = result["image"]
    assert content == ANSWER.content
    assert parts == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
    ]
    assert result["json"] == [{"answer": ANSWER.content}, "application/json"]
    # A streamed tool call, its deltas put together, sent back with its thought signature.
    assert result["streamedTool"] == [
        1,
        "get_weather",
        {"city": "Paris"},
        "tool_calls",
        'Tool result: {"content":"sunny"}',
        {"name": "get_weather", "args": {"city": "Paris"}},
        True,
    ]
    expected = {
        gemini: [openai_reason] * 2 for gemini, openai_reason in NODE_FINISH_REASONS.items()
    }
    assert result["finishes"] == expected


NODE_OPENAI_ERRORS = """
const errors = {};
async function caught(status, request, c = client) {
  try { await c.chat.completions.create(request); errors[status] = "no error"; }
  catch (e) { errors[status] = [e.constructor.name, e.status, typeof e.error?.message]; }
}
for (const status of JSON.parse(process.env.STATUSES)) {
  await faults("ERRORS", {status, error_message: "the node says no"});
  await caught(status, {model: "errors", messages: hello});
}
await caught("wrong-key", {model: "one", messages: hello}, new OpenAI({apiKey: "sk-wrong",
  baseURL: process.env.ROUTER_URL + "/v1", maxRetries: 0}));
await caught("unknown-model", {model: "no-such-model", messages: hello});
await faults("MAIN", {chunk_delay: 1.3});
const [slow, finish] = await streamed({model: "one", messages: hello}, new OpenAI(
  {apiKey: process.env.KEY, baseURL: process.env.ROUTER_URL + "/v1", maxRetries: 0,
    fetch: tappedFetch}));
const raw = await taps.at(-1).text();
await faults("MAIN", {inband_error_after: 2});
let partial = "", raised = "no error";
try {
  for await (const chunk of await client.chat.completions.create(
    {model: "one", messages: hello, stream: true})) {
    partial += chunk.choices[0]?.delta?.content ?? "";
  }
} catch (e) { raised = e.constructor.name; }
const inband = [partial, raised];
console.log(JSON.stringify({inband, errors, slow: [slow, finish],
  keepalive: raw.includes("\\n: keep-alive\\n\\n")}));
"""

NODE_ERRORS = {
    "400": "BadRequestError",
    "409": "ConflictError",
    "422": "UnprocessableEntityError",
    "429": "RateLimitError",
    "500": "InternalServerError",
    "503": "InternalServerError",
}


def test_the_node_openai_sdk_errors_and_keepalives(
    setup: Translating, fresh_nodes: MockNodes
) -> None:
    """The Node SDK: a node's error of each status as the SDK's error class (the body's
    message kept), the router's own 401 and 404, an in-band error mid-stream, which it
    raises, and a slow stream kept alive with
    OpenAI's comment (in the bytes the SDK read), which the SDK skips."""
    needs_node_sdks()
    statuses = [int(s) for s in NODE_ERRORS]
    env = {**_node_env(setup, fresh_nodes), "STATUSES": json.dumps(statuses)}
    result = run_node(_node_script(NODE_OPENAI_ERRORS), env)
    errors = result["errors"]
    for status, name in NODE_ERRORS.items():
        kind, seen_status, message = errors[status]
        assert kind == name and message == "string", (status, errors[status])
        assert seen_status == int(status) or (int(status) >= 500 and seen_status >= 500)
    assert errors["wrong-key"][:2] == ["AuthenticationError", 401]
    assert errors["unknown-model"][:2] == ["NotFoundError", 404]
    assert result["slow"] == [ANSWER.content, "stop"]
    assert result["keepalive"] is True
    partial, raised = result["inband"]  # a failure mid-stream, sent in band: raised
    assert raised == "APIError" and partial and ANSWER.content.startswith(partial)
    assert partial != ANSWER.content
